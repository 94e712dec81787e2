//! Scalar decoding the way melange's yaml.v3 decoder does it for string fields: the scalar's
//! source text is kept (`1.10` stays `1.10`, `00303` stays `00303`, `false` is `"false"`), and a
//! null value (`~`, `null` or nothing) is the empty string.

use serde::{Deserialize, Deserializer};

use super::model::StringMap;

/// A string field: any scalar's text, null as `""`.
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// A map of string to string, where null values are `""` and a null map is empty.
pub fn string_map<'de, D: Deserializer<'de>>(d: D) -> Result<StringMap, D::Error> {
    let raw = Option::<std::collections::BTreeMap<String, Option<String>>>::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect())
}

/// A list of strings, where null items are `""` and a null list is empty.
pub fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let raw = Option::<Vec<Option<String>>>::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect())
}
