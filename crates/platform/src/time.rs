//! `Timestamp`: a UTC instant with millisecond precision that stores the same way on both
//! engines: `timestamptz` on PostgreSQL, fixed-width ISO-8601 text (`2026-11-21T23:59:00.123Z`)
//! on SQLite, so text comparison there is time order, matching the SQL column defaults.

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
use sqlx::sqlite::{SqliteArgumentsBuffer, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Postgres, Sqlite, Type};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(transparent)]
#[schema(value_type = String, format = DateTime, example = "2026-11-21T23:59:00.123Z")]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    /// Now, truncated to the millisecond both engines keep.
    pub fn now() -> Timestamp {
        Timestamp::from_datetime(Utc::now())
    }

    pub fn from_datetime(at: DateTime<Utc>) -> Timestamp {
        let millis = at.timestamp_millis();
        Timestamp(DateTime::from_timestamp_millis(millis).unwrap_or(at))
    }

    pub fn from_unix_seconds(seconds: i64) -> Option<Timestamp> {
        DateTime::from_timestamp(seconds, 0).map(Timestamp)
    }

    pub fn datetime(self) -> DateTime<Utc> {
        self.0
    }

    pub fn unix_seconds(self) -> i64 {
        self.0.timestamp()
    }

    /// `self + duration`, saturating at the far future.
    pub fn plus(self, duration: std::time::Duration) -> Timestamp {
        let delta = TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX);
        Timestamp(
            self.0
                .checked_add_signed(delta)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        )
    }

    pub fn minus(self, duration: std::time::Duration) -> Timestamp {
        let delta = TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX);
        Timestamp(
            self.0
                .checked_sub_signed(delta)
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
        )
    }

    /// The SQLite text form, also used in JSON: `2026-11-21T23:59:00.123Z`.
    pub fn to_rfc3339(self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Millis, true)
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(at: DateTime<Utc>) -> Timestamp {
        Timestamp::from_datetime(at)
    }
}

impl Type<Sqlite> for Timestamp {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty) || <DateTime<Utc> as Type<Sqlite>>::compatible(ty)
    }
}

impl Encode<'_, Sqlite> for Timestamp {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        Encode::<Sqlite>::encode(self.to_rfc3339(), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Timestamp {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<Sqlite>>::decode(value)?;
        let at = DateTime::parse_from_rfc3339(text)?;
        Ok(Timestamp(at.with_timezone(&Utc)))
    }
}

impl Type<Postgres> for Timestamp {
    fn type_info() -> PgTypeInfo {
        <DateTime<Utc> as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for Timestamp {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        Encode::<Postgres>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, Postgres> for Timestamp {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Timestamp(<DateTime<Utc> as Decode<Postgres>>::decode(
            value,
        )?))
    }
}

impl sqlx::postgres::PgHasArrayType for Timestamp {
    fn array_type_info() -> PgTypeInfo {
        <DateTime<Utc> as sqlx::postgres::PgHasArrayType>::array_type_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_is_fixed_width_and_sorts_as_time() {
        let a = Timestamp::from_unix_seconds(1_700_000_000).expect("valid");
        let b = a.plus(std::time::Duration::from_millis(5));
        assert_eq!(a.to_rfc3339(), "2023-11-14T22:13:20.000Z");
        assert!(a.to_rfc3339() < b.to_rfc3339());
        assert_eq!(a.to_rfc3339().len(), b.to_rfc3339().len());
    }
}
