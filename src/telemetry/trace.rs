//! W3C Trace Context: a valid incoming `traceparent` is continued (same trace id, a new span id
//! for the gateway's call to the ERP); without one, a new trace starts.

/// The header that carries the trace context, read from clients and sent to the ERP.
pub const HEADER: http::HeaderName = http::HeaderName::from_static("traceparent");

/// `00-<trace id>-<parent id>-<flags>`, checked as the W3C recommendation says.
pub fn parse(header: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = header.trim().split('-').collect();
    let [version, trace_id, parent_id, flags] = parts.as_slice() else {
        return None;
    };
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if !hex(version, 2)
        || *version == "ff"
        || !hex(trace_id, 32)
        || !hex(parent_id, 16)
        || !hex(flags, 2)
    {
        return None;
    }
    if trace_id.bytes().all(|b| b == b'0') || parent_id.bytes().all(|b| b == b'0') {
        return None;
    }
    Some((trace_id.to_string(), flags.to_string()))
}

/// Pushes `bytes` (<= 16) random bytes onto `out` as lowercase hex (a v4 UUID's random bits,
/// encoded into a buffer on the stack).
fn push_random_hex(out: &mut String, bytes: usize) {
    let mut buf = uuid::Uuid::encode_buffer();
    let text = uuid::Uuid::new_v4().simple().encode_lower(&mut buf);
    out.push_str(&text[..bytes * 2]);
}

/// The trace id of the request and the `traceparent` to send to the ERP.
pub fn continue_or_start(incoming: Option<&str>) -> (String, String) {
    let (trace_id, flags) = incoming.and_then(parse).unwrap_or_else(|| {
        let mut id = String::with_capacity(32);
        push_random_hex(&mut id, 16);
        (id, "01".into())
    });
    // `00-<trace id>-<span id>-<flags>`, written into one allocation of its size.
    let mut outgoing = String::with_capacity(3 + trace_id.len() + 1 + 16 + 1 + flags.len());
    outgoing.push_str("00-");
    outgoing.push_str(&trace_id);
    outgoing.push('-');
    push_random_hex(&mut outgoing, 8);
    outgoing.push('-');
    outgoing.push_str(&flags);
    (trace_id, outgoing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continues_a_valid_trace() {
        let (trace, out) = continue_or_start(Some(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ));
        assert_eq!(trace, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(out.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert!(!out.contains("00f067aa0ba902b7"));
        assert!(out.ends_with("-01"));
    }

    #[test]
    fn starts_a_new_trace_on_garbage() {
        for bad in [
            "",
            "00-xyz-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            let (trace, out) = continue_or_start(Some(bad));
            assert_eq!(trace.len(), 32);
            assert_eq!(out.len(), 55, "{out}");
            // What is sent is itself a valid traceparent of the same trace.
            assert_eq!(
                parse(&out),
                Some((trace.clone(), "01".to_string())),
                "{out}"
            );
        }
    }
}
