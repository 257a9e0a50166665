//! Time zones: an IANA name (`Europe/Paris`) resolved in jiff's copy of the tz database, built
//! into the binary, and the two questions the conversions ask of it: which instant a vendor's
//! zone-less local time is, and which offset (and abbreviation, for `%Z`) a time is written
//! with.
//!
//! The times themselves stay chrono's (the strftime patterns are compiled to chrono's items at
//! load). The database is jiff's rather than chrono-tz's because of what it costs a process:
//! chrono-tz compiles the database into Rust tables holding 56,000 string pointers, relocated
//! at every start (about 1 MB of memory written, hence private to each process, before the
//! first request); jiff keeps the database's own binary form, read-only and paged in only for
//! the zones a mapping or a connection names.

use std::cell::RefCell;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Offset, Utc};
use compact_str::CompactString;
use jiff::tz::AmbiguousOffset;

/// An IANA time zone (jiff's `TimeZone`: cheap to clone, shared).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeZone(jiff::tz::TimeZone);

/// Why a local time has no instant in a zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalError {
    /// The clocks skipped it (a daylight-saving gap).
    Gap,
    /// Outside the years the database covers (-9999 to 9999).
    OutOfRange,
}

/// The offset a time is written with in a zone: chrono's `Offset` for the arithmetic, and the
/// zone's abbreviation (`CET`, `CEST`) as its `Display`, which is what a `%Z` writes.
#[derive(Clone, Debug)]
pub struct ZoneOffset {
    fixed: FixedOffset,
    abbreviation: CompactString,
}

impl TimeZone {
    /// The zone an IANA name (or `UTC`) names, if the database has it. A zone read from a
    /// setting is looked up on every conversion: `UTC` (every seed mapping's default) needs no
    /// lookup, and the last zone found on this thread is kept, so a connection's zone is found
    /// in the database once per thread rather than once per time converted.
    pub fn named(name: &str) -> Option<TimeZone> {
        if name == "UTC" {
            return Some(TimeZone(jiff::tz::TimeZone::UTC));
        }
        thread_local! {
            static LAST: RefCell<Option<TimeZone>> = const { RefCell::new(None) };
        }
        LAST.with(|last| {
            if let Some(zone) = last.borrow().as_ref().filter(|z| z.name() == name) {
                return Some(zone.clone());
            }
            let zone = jiff::tz::TimeZone::get(name).ok().map(TimeZone)?;
            *last.borrow_mut() = Some(zone.clone());
            Some(zone)
        })
    }

    /// The zone's name, as the database spells it.
    pub fn name(&self) -> &str {
        self.0.iana_name().unwrap_or("UTC")
    }

    /// The instant a local time of this zone is; when the clocks go back and it happens twice,
    /// the first of the two (as read before the change).
    pub fn instant_of(&self, local: &NaiveDateTime) -> Result<DateTime<Utc>, LocalError> {
        let civil = civil_of(local).ok_or(LocalError::OutOfRange)?;
        let offset = match self.0.to_ambiguous_timestamp(civil).offset() {
            AmbiguousOffset::Unambiguous { offset } => offset,
            AmbiguousOffset::Fold { before, .. } => before,
            AmbiguousOffset::Gap { .. } => return Err(LocalError::Gap),
        };
        let seconds = chrono::TimeDelta::seconds(i64::from(offset.seconds()));
        local
            .checked_sub_signed(seconds)
            .map(|utc| utc.and_utc())
            .ok_or(LocalError::OutOfRange)
    }

    /// The offset this zone has at `instant`.
    pub fn offset_at(&self, instant: &DateTime<Utc>) -> Result<ZoneOffset, LocalError> {
        let timestamp =
            jiff::Timestamp::new(instant.timestamp(), instant.timestamp_subsec_nanos() as i32)
                .map_err(|_| LocalError::OutOfRange)?;
        let info = self.0.to_offset_info(timestamp);
        let fixed = FixedOffset::east_opt(info.offset().seconds()).ok_or(LocalError::OutOfRange)?;
        Ok(ZoneOffset {
            fixed,
            abbreviation: CompactString::from(info.abbreviation()),
        })
    }
}

impl ZoneOffset {
    /// `instant`'s local date and time at this offset.
    pub fn local(&self, instant: &DateTime<Utc>) -> (NaiveDate, NaiveTime) {
        let local = instant.with_timezone(&self.fixed).naive_local();
        (local.date(), local.time())
    }
}

impl Offset for ZoneOffset {
    fn fix(&self) -> FixedOffset {
        self.fixed
    }
}

impl std::fmt::Display for ZoneOffset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.abbreviation)
    }
}

/// chrono's local time as jiff's (a leap second's extra nanoseconds dropped).
fn civil_of(local: &NaiveDateTime) -> Option<jiff::civil::DateTime> {
    use chrono::{Datelike, Timelike};
    jiff::civil::DateTime::new(
        i16::try_from(local.year()).ok()?,
        local.month() as i8,
        local.day() as i8,
        local.hour() as i8,
        local.minute() as i8,
        local.second() as i8,
        local.nanosecond().min(999_999_999) as i32,
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").expect("a local time")
    }

    fn utc(text: &str) -> DateTime<Utc> {
        local(text).and_utc()
    }

    #[test]
    fn names_are_those_of_the_database() {
        assert_eq!(
            TimeZone::named("Europe/Paris").map(|z| z.name().to_owned()),
            Some("Europe/Paris".to_owned())
        );
        assert!(TimeZone::named("UTC").is_some());
        assert!(TimeZone::named("Berlin").is_none());
        // Found again (the last one found is kept), and another after it.
        assert_eq!(
            TimeZone::named("Europe/Paris").map(|z| z.name().to_owned()),
            Some("Europe/Paris".to_owned())
        );
        assert_eq!(
            TimeZone::named("Asia/Tokyo").map(|z| z.name().to_owned()),
            Some("Asia/Tokyo".to_owned())
        );
        assert_eq!(
            TimeZone::named("UTC").map(|z| z.name().to_owned()),
            Some("UTC".to_owned())
        );
        assert!(TimeZone::named("").is_none());
    }

    #[test]
    fn a_local_time_is_read_with_the_offset_of_its_season() {
        let paris = TimeZone::named("Europe/Paris").expect("zone");
        assert_eq!(
            paris.instant_of(&local("2024-01-15 10:00:00")),
            Ok(utc("2024-01-15 09:00:00"))
        );
        assert_eq!(
            paris.instant_of(&local("2024-07-15 10:00:00")),
            Ok(utc("2024-07-15 08:00:00"))
        );
        // 02:30 on 31 March 2024 never happened in Paris.
        assert_eq!(
            paris.instant_of(&local("2024-03-31 02:30:00")),
            Err(LocalError::Gap)
        );
        // 02:30 on 27 October 2024 happened twice: the first, still summer time.
        assert_eq!(
            paris.instant_of(&local("2024-10-27 02:30:00")),
            Ok(utc("2024-10-27 00:30:00"))
        );
    }

    #[test]
    fn an_instant_is_written_with_the_offset_and_abbreviation_it_has_there() {
        let paris = TimeZone::named("Europe/Paris").expect("zone");
        let winter = paris
            .offset_at(&utc("2024-01-15 09:00:00"))
            .expect("offset");
        assert_eq!(winter.fix(), FixedOffset::east_opt(3600).expect("offset"));
        assert_eq!(winter.to_string(), "CET");
        let summer = paris
            .offset_at(&utc("2024-07-15 08:00:00"))
            .expect("offset");
        assert_eq!(summer.to_string(), "CEST");
        let (date, time) = summer.local(&utc("2024-07-15 23:30:00"));
        assert_eq!(date.to_string(), "2024-07-16");
        assert_eq!(time.to_string(), "01:30:00");
    }

    #[test]
    fn times_past_the_database_years_are_refused_not_guessed() {
        let paris = TimeZone::named("Europe/Paris").expect("zone");
        let far = NaiveDate::from_ymd_opt(20_000, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .expect("a date chrono holds");
        assert_eq!(paris.instant_of(&far), Err(LocalError::OutOfRange));
        assert!(paris.offset_at(&far.and_utc()).is_err());
    }
}
