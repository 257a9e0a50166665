//! RFC 9457 problems: every error the gateway answers becomes one of these, here and only here.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    ValidationFailed,
    UpstreamRejected,
    BusinessRule,
    NotFound,
    Conflict,
    Unauthorized,
    Forbidden,
    UpstreamAuthFailed,
    RateLimited,
    PayloadTooLarge,
    UnsupportedMediaType,
    OperationNotSupported,
    UpstreamUnavailable,
    UpstreamTimeout,
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 15] = [
        ErrorCode::ValidationFailed,
        ErrorCode::UpstreamRejected,
        ErrorCode::BusinessRule,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::UpstreamAuthFailed,
        ErrorCode::RateLimited,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::OperationNotSupported,
        ErrorCode::UpstreamUnavailable,
        ErrorCode::UpstreamTimeout,
        ErrorCode::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ValidationFailed => "validation_failed",
            ErrorCode::UpstreamRejected => "upstream_rejected",
            ErrorCode::BusinessRule => "business_rule",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::UpstreamAuthFailed => "upstream_auth_failed",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::OperationNotSupported => "operation_not_supported",
            ErrorCode::UpstreamUnavailable => "upstream_unavailable",
            ErrorCode::UpstreamTimeout => "upstream_timeout",
            ErrorCode::Internal => "internal",
        }
    }

    pub fn parse(s: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == s)
    }

    pub fn status(self) -> u16 {
        match self {
            ErrorCode::ValidationFailed | ErrorCode::UpstreamRejected | ErrorCode::BusinessRule => {
                422
            }
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict => 409,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::UpstreamAuthFailed => 502,
            ErrorCode::RateLimited => 429,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::OperationNotSupported => 501,
            ErrorCode::UpstreamUnavailable => 502,
            ErrorCode::UpstreamTimeout => 504,
            ErrorCode::Internal => 500,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            ErrorCode::ValidationFailed => "The request breaks the order contract",
            ErrorCode::UpstreamRejected => "The ERP rejected the order",
            ErrorCode::BusinessRule => "The ERP refused the order for a business reason",
            ErrorCode::NotFound => "Not found",
            ErrorCode::Conflict => "Conflict",
            ErrorCode::Unauthorized => "Authentication required",
            ErrorCode::Forbidden => "Not allowed",
            ErrorCode::UpstreamAuthFailed => "The ERP refused the gateway's credentials",
            ErrorCode::RateLimited => "Too many requests",
            ErrorCode::PayloadTooLarge => "The request body is too large",
            ErrorCode::UnsupportedMediaType => "Unsupported media type",
            ErrorCode::OperationNotSupported => "The ERP's mapping does not support this operation",
            ErrorCode::UpstreamUnavailable => "The ERP is unavailable",
            ErrorCode::UpstreamTimeout => "The ERP did not answer in time",
            ErrorCode::Internal => "Internal error",
        }
    }

    /// Whether sending the same request again may succeed.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::RateLimited | ErrorCode::UpstreamUnavailable | ErrorCode::UpstreamTimeout
        )
    }

    /// The canonical code for a vendor status that no mapping rule explained.
    pub fn from_upstream_status(status: u16) -> ErrorCode {
        match status {
            401 | 403 => ErrorCode::UpstreamAuthFailed,
            404 | 410 => ErrorCode::NotFound,
            409 => ErrorCode::Conflict,
            429 => ErrorCode::RateLimited,
            400..=499 => ErrorCode::UpstreamRejected,
            _ => ErrorCode::UpstreamUnavailable,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldError {
    pub pointer: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct UpstreamInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One error answer. Build it anywhere; it becomes HTTP only in `into_body`.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub code: ErrorCode,
    /// Overrides the code's default status (502 vs 503 for `upstream_unavailable`).
    pub status: Option<u16>,
    pub detail: String,
    pub errors: Vec<FieldError>,
    pub upstream: Option<Box<UpstreamInfo>>,
    pub connection: Option<String>,
    /// `Retry-After` seconds to pass on.
    pub retry_after: Option<u64>,
    /// A write may or may not have reached the ERP (`"outcome": "unknown"`).
    pub outcome_unknown: bool,
    /// Set when a mapping could not translate (for metrics).
    pub mapping_error: Option<Direction>,
}

/// Which way a mapping failed to translate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Request,
    Response,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Request => "request",
            Direction::Response => "response",
        }
    }
}

impl Problem {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Problem {
            code,
            status: None,
            detail: detail.into(),
            errors: Vec::new(),
            upstream: None,
            connection: None,
            retry_after: None,
            outcome_unknown: false,
            mapping_error: None,
        }
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    pub fn from_mapping(mut self, direction: Direction) -> Self {
        self.mapping_error = Some(direction);
        self
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    pub fn status(&self) -> u16 {
        self.status.unwrap_or_else(|| self.code.status())
    }

    /// The JSON body; `request_id` ties it to the log line.
    pub fn to_json(&self, request_id: &str) -> serde_json::Value {
        let mut body = serde_json::json!({
            "type": format!("https://ordergate.dev/problems/{}", self.code.as_str()),
            "title": self.code.title(),
            "status": self.status(),
            "code": self.code.as_str(),
            "detail": self.detail,
            "retryable": self.code.retryable(),
            "request_id": request_id,
        });
        if let Some(obj) = body.as_object_mut() {
            if let Some(c) = &self.connection {
                obj.insert("connection".into(), c.clone().into());
            }
            if !self.errors.is_empty() {
                obj.insert(
                    "errors".into(),
                    serde_json::to_value(&self.errors).unwrap_or_default(),
                );
            }
            if let Some(u) = &self.upstream {
                obj.insert(
                    "upstream".into(),
                    serde_json::to_value(u).unwrap_or_default(),
                );
            }
            if self.outcome_unknown {
                obj.insert("outcome".into(), "unknown".into());
            }
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_have_statuses() {
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(c.as_str()), Some(c));
            assert!((400..=504).contains(&c.status()) || c == ErrorCode::Internal);
        }
        assert_eq!(
            ErrorCode::from_upstream_status(503),
            ErrorCode::UpstreamUnavailable
        );
        assert_eq!(
            ErrorCode::from_upstream_status(401),
            ErrorCode::UpstreamAuthFailed
        );
    }

    #[test]
    fn problem_body_has_the_contract_fields() {
        let p = Problem::new(ErrorCode::UpstreamRejected, "quantity must be an Integer");
        let body = p.to_json("r1");
        assert_eq!(body["status"], 422);
        assert_eq!(body["code"], "upstream_rejected");
        assert_eq!(
            body["type"],
            "https://ordergate.dev/problems/upstream_rejected"
        );
        assert_eq!(body["request_id"], "r1");
    }
}
