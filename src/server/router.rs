//! Routes: the canonical paths -> an operation on a connection (or a gateway resource).

use std::borrow::Cow;

use http::Method;
use percent_encoding::percent_decode_str;

use crate::canonical::operation::Operation;

#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// `GET /v1/connections`
    Connections,
    /// `GET /openapi.json`
    OpenApi,
    /// `GET /healthz`
    Health,
    Order(OrderRoute),
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderRoute {
    /// None: the default connection (`/v1/orders...`).
    pub connection: Option<String>,
    pub op: Operation,
    pub id: Option<String>,
    pub external_ref: Option<String>,
}

impl OrderRoute {
    /// The route template, for logs and metrics (never the raw path).
    pub fn template(&self) -> &'static str {
        let scoped = self.connection.is_some();
        match (self.op, scoped) {
            (Operation::CreateOrder | Operation::ListOrders, true) => {
                "/v1/connections/{connection}/orders"
            }
            (Operation::CreateOrder | Operation::ListOrders, false) => "/v1/orders",
            (Operation::GetOrderByRef, true) => {
                "/v1/connections/{connection}/orders/by-ref/{external_ref}"
            }
            (Operation::GetOrderByRef, false) => "/v1/orders/by-ref/{external_ref}",
            (Operation::ConfirmOrder, true) => "/v1/connections/{connection}/orders/{id}/confirm",
            (Operation::ConfirmOrder, false) => "/v1/orders/{id}/confirm",
            (Operation::CancelOrder, true) => "/v1/connections/{connection}/orders/{id}/cancel",
            (Operation::CancelOrder, false) => "/v1/orders/{id}/cancel",
            (Operation::CreateInvoice, true) => "/v1/connections/{connection}/orders/{id}/invoice",
            (Operation::CreateInvoice, false) => "/v1/orders/{id}/invoice",
            (Operation::RecordPayment, true) => "/v1/connections/{connection}/orders/{id}/payments",
            (Operation::RecordPayment, false) => "/v1/orders/{id}/payments",
            (_, true) => "/v1/connections/{connection}/orders/{id}",
            (_, false) => "/v1/orders/{id}",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum RouteError {
    NotFound,
    MethodNotAllowed(&'static str),
    /// A path segment that is not valid UTF-8 or holds control characters.
    BadSegment,
}

pub fn route(method: &Method, path: &str) -> Result<Route, RouteError> {
    // Each segment decoded; borrowed from the path unless it held an escape.
    let mut decoded: Vec<Cow<'_, str>> = Vec::with_capacity(8);
    for s in path.trim_start_matches('/').split('/') {
        let segment = percent_decode_str(s)
            .decode_utf8()
            .map_err(|_| RouteError::BadSegment)?;
        if segment.chars().any(char::is_control) {
            return Err(RouteError::BadSegment);
        }
        decoded.push(segment);
    }
    // `.` and `..` as ids would become dot-segments on a path-normalising ERP or proxy.
    if decoded.iter().skip(2).any(|s| s == "." || s == "..") {
        return Err(RouteError::BadSegment);
    }
    let segs: Vec<&str> = decoded.iter().map(AsRef::as_ref).collect();
    match segs.as_slice() {
        ["openapi.json"] => only_get(method, Route::OpenApi),
        ["healthz"] => only_get(method, Route::Health),
        ["v1", "connections"] => only_get(method, Route::Connections),
        ["v1", "connections", conn, "orders", rest @ ..] if !conn.is_empty() => {
            orders(method, Some(conn), rest)
        }
        ["v1", "orders", rest @ ..] => orders(method, None, rest),
        _ => Err(RouteError::NotFound),
    }
}

fn only_get(method: &Method, r: Route) -> Result<Route, RouteError> {
    if method == Method::GET {
        Ok(r)
    } else {
        Err(RouteError::MethodNotAllowed("GET"))
    }
}

fn orders(method: &Method, conn: Option<&str>, rest: &[&str]) -> Result<Route, RouteError> {
    let make = |op, id: Option<&str>, external_ref: Option<&str>| {
        Ok(Route::Order(OrderRoute {
            connection: conn.map(str::to_string),
            op,
            id: id.map(str::to_string),
            external_ref: external_ref.map(str::to_string),
        }))
    };
    match (rest, method) {
        ([] | [""], &Method::POST) => make(Operation::CreateOrder, None, None),
        ([] | [""], &Method::GET) => make(Operation::ListOrders, None, None),
        ([] | [""], _) => Err(RouteError::MethodNotAllowed("GET, POST")),
        (["by-ref", r], &Method::GET) if !r.is_empty() => {
            make(Operation::GetOrderByRef, None, Some(r))
        }
        (["by-ref", _], _) => Err(RouteError::MethodNotAllowed("GET")),
        ([id], m) if !id.is_empty() => match *m {
            Method::GET => make(Operation::GetOrder, Some(id), None),
            Method::PATCH => make(Operation::UpdateOrder, Some(id), None),
            Method::DELETE => make(Operation::DeleteOrder, Some(id), None),
            _ => Err(RouteError::MethodNotAllowed("GET, PATCH, DELETE")),
        },
        ([id, "confirm"], &Method::POST) if !id.is_empty() => {
            make(Operation::ConfirmOrder, Some(id), None)
        }
        ([id, "cancel"], &Method::POST) if !id.is_empty() => {
            make(Operation::CancelOrder, Some(id), None)
        }
        ([id, "invoice"], &Method::POST) if !id.is_empty() => {
            make(Operation::CreateInvoice, Some(id), None)
        }
        ([id, "payments"], &Method::POST) if !id.is_empty() => {
            make(Operation::RecordPayment, Some(id), None)
        }
        ([_, "confirm" | "cancel" | "invoice" | "payments"], _) => {
            Err(RouteError::MethodNotAllowed("POST"))
        }
        _ => Err(RouteError::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(m: Method, p: &str) -> OrderRoute {
        match route(&m, p) {
            Ok(Route::Order(o)) => o,
            other => panic!("{p}: {other:?}"),
        }
    }

    #[test]
    fn both_route_forms() {
        let o = order(Method::POST, "/v1/connections/erp-a/orders");
        assert_eq!(
            (o.op, o.connection.as_deref()),
            (Operation::CreateOrder, Some("erp-a"))
        );
        let o = order(Method::GET, "/v1/orders/SAL-1");
        assert_eq!(
            (o.op, o.id.as_deref(), o.connection),
            (Operation::GetOrder, Some("SAL-1"), None)
        );
        let o = order(Method::GET, "/v1/orders/by-ref/PO%2F7");
        assert_eq!(o.external_ref.as_deref(), Some("PO/7"));
        assert_eq!(
            order(Method::POST, "/v1/orders/X/confirm").op,
            Operation::ConfirmOrder
        );
        assert_eq!(
            order(Method::DELETE, "/v1/orders/X").op,
            Operation::DeleteOrder
        );
        assert_eq!(
            order(Method::PATCH, "/v1/orders/X").template(),
            "/v1/orders/{id}"
        );
    }

    #[test]
    fn bad_routes() {
        assert_eq!(route(&Method::GET, "/v2/orders"), Err(RouteError::NotFound));
        assert_eq!(
            route(&Method::PUT, "/v1/orders/X"),
            Err(RouteError::MethodNotAllowed("GET, PATCH, DELETE"))
        );
        assert_eq!(
            route(&Method::GET, "/v1/orders/a%0D%0Ab"),
            Err(RouteError::BadSegment)
        );
        assert_eq!(
            route(&Method::GET, "/v1/orders/%FF"),
            Err(RouteError::BadSegment)
        );
    }
}
