//! `$now` and `$today`: one instant per request, its texts made the first time a template
//! reads them. Most requests never do (a default date, a login's time), and writing both texts
//! for every request cost more than its access log line's timestamp.

use std::sync::OnceLock;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::value::Value;

/// The instant of one request (none: both roots are null, as in the engine's unit tests).
#[derive(Debug)]
pub struct Clock {
    at: Option<DateTime<Utc>>,
    now: OnceLock<Value>,
    today: OnceLock<Value>,
}

impl Clock {
    pub fn at(at: DateTime<Utc>) -> Self {
        Clock {
            at: Some(at),
            ..Clock::none()
        }
    }

    /// No instant: `$now` and `$today` are null.
    pub const fn none() -> Self {
        Clock {
            at: None,
            now: OnceLock::new(),
            today: OnceLock::new(),
        }
    }

    /// `$now`: the instant in RFC 3339, UTC, to the second (`2026-11-23T08:15:00Z`).
    pub fn now(&self) -> &Value {
        self.now.get_or_init(|| match self.at {
            Some(at) => Value::from(at.to_rfc3339_opts(SecondsFormat::Secs, true)),
            None => Value::Null,
        })
    }

    /// `$today`: the instant's UTC date (`2026-11-23`).
    pub fn today(&self) -> &Value {
        self.today.get_or_init(|| match self.at {
            Some(at) => Value::from(at.date_naive().to_string()),
            None => Value::Null,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_made_once_and_as_before() {
        let at = DateTime::parse_from_rfc3339("2026-11-23T23:59:59.750+00:00")
            .expect("a time")
            .with_timezone(&Utc);
        let clock = Clock::at(at);
        assert_eq!(clock.now(), &Value::from("2026-11-23T23:59:59Z"));
        assert_eq!(clock.today(), &Value::from("2026-11-23"));
        // The same value each time, not a new one.
        assert!(std::ptr::eq(clock.now(), clock.now()));
        let none = Clock::none();
        assert!(none.now().is_null() && none.today().is_null());
    }
}
