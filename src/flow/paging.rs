//! List paging: the canonical `limit` and opaque `cursor` <-> the vendor's offset, page or
//! cursor (`$page.limit`, `$page.offset`, `$page.page`, `$page.cursor`).

use crate::json;
use crate::value::Value;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::canonical::problem::{ErrorCode, FieldError, Problem};
use crate::engine::plan::{Paging, PagingStyle};

/// The `$page` root for one list request.
pub fn page(p: &Paging, query: &Value) -> Result<Value, Problem> {
    let limit = query
        .get("limit")
        .and_then(Value::as_u64)
        .unwrap_or(p.default_limit)
        .clamp(1, p.max_limit);
    let cursor = query.get("cursor").and_then(Value::as_str);
    let (offset, vendor_cursor) = match (p.style, cursor) {
        (_, None) => (0, Value::Null),
        (PagingStyle::Offset, Some(c)) => (decode_offset(c).ok_or_else(bad_cursor)?, Value::Null),
        (PagingStyle::Cursor, Some(c)) => (0, Value::from(c)),
    };
    if let Some(size) = p.page_size {
        // The vendor's pages are fixed: ask for the page holding `offset`, cut the client's
        // rows out of it afterwards (`window`).
        return Ok(json!({
            "limit": size,
            "offset": offset - offset % size,
            "page": p.first_page.saturating_add(offset / size),
            "cursor": vendor_cursor,
            "skip": offset % size,
            "requested": limit,
            "requested_offset": offset,
        }));
    }
    Ok(json!({
        "limit": limit,
        "offset": offset,
        "page": p.first_page.saturating_add(offset / limit),
        "cursor": vendor_cursor,
    }))
}

/// With a fixed vendor page size: the client's rows out of the vendor's page, and whether
/// rows follow them (on this vendor page, or a next one when this one was full).
pub fn window<T>(p: &Paging, page: &Value, mut rows: Vec<T>) -> (Vec<T>, Option<bool>) {
    let Some(size) = p.page_size else {
        return (rows, None);
    };
    let skip = page.get("skip").and_then(Value::as_u64).unwrap_or(0) as usize;
    let limit = page
        .get("requested")
        .and_then(Value::as_u64)
        .unwrap_or(size) as usize;
    let vendor_full = rows.len() as u64 >= size;
    rows.drain(..skip.min(rows.len()));
    let cut = rows.len() > limit;
    rows.truncate(limit);
    (rows, Some(cut || vendor_full))
}

/// The cursor of the next page, or none when this one was the last.
pub fn next_cursor(
    p: &Paging,
    page: &Value,
    returned: usize,
    total: Option<u64>,
    vendor: Option<String>,
    more: Option<bool>,
) -> Option<String> {
    match p.style {
        PagingStyle::Cursor => vendor.filter(|c| !c.is_empty()),
        PagingStyle::Offset => {
            let offset = page
                .get("requested_offset")
                .or_else(|| page.get("offset"))
                .and_then(Value::as_u64)
                .unwrap_or(0);
            let limit = page.get("limit").and_then(Value::as_u64).unwrap_or(1);
            let next = offset.saturating_add(returned as u64);
            let more = match (total, more) {
                (Some(t), _) => next < t,
                (None, Some(m)) => m,
                (None, None) => returned as u64 >= limit,
            };
            (more && returned > 0 && within_bounds(next)).then(|| encode_offset(next))
        }
    }
}

fn encode_offset(offset: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("o:{offset}"))
}

/// Offsets past this are not ones the gateway gave (no list is that long).
const MAX_OFFSET: u64 = 1 << 40;

/// Whether a next cursor can still be given.
fn within_bounds(next: u64) -> bool {
    next <= MAX_OFFSET
}

fn decode_offset(cursor: &str) -> Option<u64> {
    if cursor.len() > 64 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let offset: u64 = std::str::from_utf8(&bytes)
        .ok()?
        .strip_prefix("o:")?
        .parse()
        .ok()?;
    (offset <= MAX_OFFSET).then_some(offset)
}

fn bad_cursor() -> Problem {
    Problem::new(
        ErrorCode::ValidationFailed,
        "the cursor is not one this gateway gave",
    )
    .with_errors(vec![FieldError {
        pointer: "/cursor".into(),
        message: "unknown cursor".into(),
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_vendor_pages_are_cut_to_the_clients_window() {
        let p = Paging {
            page_size: Some(100),
            ..Paging::default()
        };
        let first = page(&p, &json!({"limit": 10})).expect("page");
        assert_eq!(
            (first["page"].as_u64(), first["limit"].as_u64()),
            (Some(1), Some(100))
        );
        let (rows, more) = window(&p, &first, (0..100).collect::<Vec<u32>>());
        assert_eq!((rows.len(), rows[0], more), (10, 0, Some(true)));
        let c = next_cursor(&p, &first, rows.len(), None, None, more).expect("more");
        let second = page(&p, &json!({"limit": 10, "cursor": c})).expect("page");
        assert_eq!(
            (second["page"].as_u64(), second["skip"].as_u64()),
            (Some(1), Some(10))
        );
        let (rows, _) = window(&p, &second, (0..100).collect::<Vec<u32>>());
        assert_eq!(rows[0], 10, "no row is skipped");
        let last = page(&p, &json!({"limit": 10, "cursor": encode_offset(195)})).expect("page");
        let (rows, more) = window(&p, &last, (100..137).collect::<Vec<u32>>());
        assert_eq!((rows.len(), more), (0, Some(false)));
    }

    #[test]
    fn offsets_round_trip() {
        let p = Paging::default();
        let first = page(&p, &json!({"limit": 5})).expect("page");
        assert_eq!(first["offset"], 0);
        assert_eq!(first["page"], 1);
        let c = next_cursor(&p, &first, 5, Some(12), None, None).expect("more");
        let second = page(&p, &json!({"limit": 5, "cursor": c})).expect("page");
        assert_eq!(second["offset"], 5);
        assert_eq!(second["page"], 2);
        assert_eq!(next_cursor(&p, &second, 5, Some(10), None, None), None);
        assert!(page(&p, &json!({"cursor": "garbage!"})).is_err());
        assert_eq!(
            page(&p, &json!({"limit": 1000})).expect("page")["limit"],
            100
        );
    }
}
