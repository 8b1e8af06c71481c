//! How one setting's text becomes a typed value and back: a [`Codec`] per kind of value
//! (durations in seconds or milliseconds, counts, byte sizes, addresses, lists, secrets…),
//! and the [`Source`] the loader reads variables from. The loader parses with
//! [`Codec::parse`]; [`super::Settings::to_env`] writes with [`Codec::render`], so that
//! loading what `to_env` wrote gives the same settings back.

use std::{fmt::Display, marker::PhantomData, net::SocketAddr, str::FromStr, time::Duration};

use anyhow::{Context, anyhow};
use secrecy::{ExposeSecret, SecretString};

use super::{LogFormat, catalogue::Unit};

/// Where a codec's text comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Read {
    /// The variable, or else the file its `<NAME>_FILE` variable names; a blank value counts
    /// as unset (the default applies).
    ValueOrFile,
    /// The variable only, as it is: set to the empty string it means "empty", not "unset"
    /// (the origin lists, where empty means "none").
    Exact,
}

/// One kind of setting value: its unit, how its text is read and parsed, how it is written.
pub trait Codec {
    /// The typed value (the field's type in the settings structs).
    type Value;
    /// The unit or shape shown in the catalogue.
    const UNIT: Unit;
    /// Where the text comes from.
    const READ: Read = Read::ValueOrFile;
    /// Parses the variable's text; the error says what is wrong (the loader adds the name).
    fn parse(text: &str) -> Result<Self::Value, String>;
    /// The variable's text for `value`; `None` leaves the variable unset.
    fn render(value: &Self::Value) -> Option<String>;
}

/// What applies when a variable is unset.
pub enum Fallback<T> {
    /// This value.
    Value(T),
    /// Nothing: loading fails, naming the variable.
    Required,
}

/// Reads settings from a lookup function (the process environment in production, a map in
/// the loader's own tests).
pub struct Source<F: Fn(&str) -> Option<String>>(pub F);

impl<F: Fn(&str) -> Option<String>> Source<F> {
    /// A setting's value: `KEY` itself, or else the contents of the file `KEY_FILE` names
    /// (a Kubernetes secret mounted as a file; surrounding whitespace and the final newline
    /// trimmed). Blank counts as unset. An unreadable file is an error, not a missing setting.
    fn value_or_file(&self, key: &str) -> anyhow::Result<Option<String>> {
        if let Some(value) = (self.0)(key).filter(|v| !v.trim().is_empty()) {
            return Ok(Some(value));
        }
        let Some(path) = (self.0)(&format!("{key}_FILE")).filter(|v| !v.trim().is_empty()) else {
            return Ok(None);
        };
        let value = std::fs::read_to_string(path.trim())
            .with_context(|| format!("reading {key}_FILE ({path})"))?;
        Ok(Some(value.trim().to_owned()).filter(|v| !v.is_empty()))
    }

    /// The text of `key` as codec `C` reads it.
    fn text<C: Codec>(&self, key: &str) -> anyhow::Result<Option<String>> {
        match C::READ {
            Read::ValueOrFile => self.value_or_file(key),
            Read::Exact => Ok((self.0)(key)),
        }
    }

    /// Reads variable `name` (or else `alias`) with codec `C`; `fallback` when both are
    /// unset. Errors name the variable.
    pub fn read<C: Codec>(
        &self,
        name: &str,
        alias: Option<&str>,
        fallback: Fallback<C::Value>,
    ) -> anyhow::Result<C::Value> {
        let mut found = None;
        for key in std::iter::once(name).chain(alias) {
            if let Some(text) = self.text::<C>(key)? {
                found = Some((key, text));
                break;
            }
        }
        match (found, fallback) {
            (Some((key, text)), _) => {
                C::parse(&text).map_err(|e| anyhow!("invalid value for {key}: {e}"))
            }
            (None, Fallback::Value(value)) => Ok(value),
            (None, Fallback::Required) => Err(match alias {
                Some(alias) => {
                    anyhow!("the environment variable {name} (or {alias}) must be set")
                }
                None => anyhow!("the environment variable {name} must be set"),
            }),
        }
    }
}

/// Parses trimmed text with `FromStr`.
fn from_str<T>(text: &str) -> Result<T, String>
where
    T: FromStr,
    T::Err: Display,
{
    text.trim().parse().map_err(|e: T::Err| e.to_string())
}

macro_rules! number_codec {
    ($(#[doc = $doc:literal])* $codec:ident, $unit:ident) => {
        $(#[doc = $doc])*
        pub struct $codec<T>(PhantomData<T>);

        impl<T> Codec for $codec<T>
        where
            T: FromStr + Display,
            T::Err: Display,
        {
            type Value = T;
            const UNIT: Unit = Unit::$unit;
            fn parse(text: &str) -> Result<T, String> {
                from_str(text)
            }
            fn render(value: &T) -> Option<String> {
                Some(value.to_string())
            }
        }
    };
}

number_codec!(
    /// A number of things (connections, threads, attempts…).
    Count,
    Count
);
number_codec!(
    /// A size in bytes.
    Bytes,
    Bytes
);
number_codec!(
    /// A number of days.
    Days,
    Days
);

/// Another codec's value, raised to at least 1 (`0` is taken as `1`, as it always was).
pub struct AtLeastOne<C>(PhantomData<C>);

impl<C> Codec for AtLeastOne<C>
where
    C: Codec,
    C::Value: Ord + From<u8>,
{
    type Value = C::Value;
    const UNIT: Unit = C::UNIT;
    fn parse(text: &str) -> Result<C::Value, String> {
        Ok(C::parse(text)?.max(1.into()))
    }
    fn render(value: &C::Value) -> Option<String> {
        C::render(value)
    }
}

/// A duration written in whole seconds (rendered truncated to whole seconds).
pub struct Seconds;

impl Codec for Seconds {
    type Value = Duration;
    const UNIT: Unit = Unit::Seconds;
    fn parse(text: &str) -> Result<Duration, String> {
        from_str(text).map(Duration::from_secs)
    }
    fn render(value: &Duration) -> Option<String> {
        Some(value.as_secs().to_string())
    }
}

/// A duration written in whole milliseconds (rendered truncated to whole milliseconds).
pub struct Millis;

impl Codec for Millis {
    type Value = Duration;
    const UNIT: Unit = Unit::Milliseconds;
    fn parse(text: &str) -> Result<Duration, String> {
        from_str(text).map(Duration::from_millis)
    }
    fn render(value: &Duration) -> Option<String> {
        Some(value.as_millis().to_string())
    }
}

/// `true` or `false`.
pub struct Flag;

impl Codec for Flag {
    type Value = bool;
    const UNIT: Unit = Unit::Boolean;
    fn parse(text: &str) -> Result<bool, String> {
        from_str(text)
    }
    fn render(value: &bool) -> Option<String> {
        Some(value.to_string())
    }
}

/// A socket address to listen on, `host:port` (port 0: any free port).
pub struct Address;

impl Codec for Address {
    type Value = SocketAddr;
    const UNIT: Unit = Unit::Address;
    fn parse(text: &str) -> Result<SocketAddr, String> {
        from_str(text)
    }
    fn render(value: &SocketAddr) -> Option<String> {
        Some(value.to_string())
    }
}

/// Text taken as it is (not trimmed when it comes from the variable itself).
pub struct Text;

impl Codec for Text {
    type Value = String;
    const UNIT: Unit = Unit::Text;
    fn parse(text: &str) -> Result<String, String> {
        Ok(text.to_owned())
    }
    fn render(value: &String) -> Option<String> {
        Some(value.clone())
    }
}

/// A URL holding credentials, kept in a [`SecretString`] (hidden from `Debug`).
pub struct SecretUrl;

impl Codec for SecretUrl {
    type Value = SecretString;
    const UNIT: Unit = Unit::Url;
    fn parse(text: &str) -> Result<SecretString, String> {
        Ok(SecretString::from(text.to_owned()))
    }
    fn render(value: &SecretString) -> Option<String> {
        Some(value.expose_secret().to_owned())
    }
}

/// A URL without credentials.
pub struct Url;

impl Codec for Url {
    type Value = String;
    const UNIT: Unit = Unit::Url;
    fn parse(text: &str) -> Result<String, String> {
        Ok(text.to_owned())
    }
    fn render(value: &String) -> Option<String> {
        Some(value.clone())
    }
}

/// A secret token, kept in a [`SecretString`].
pub struct Secret;

impl Codec for Secret {
    type Value = SecretString;
    const UNIT: Unit = Unit::Text;
    fn parse(text: &str) -> Result<SecretString, String> {
        Ok(SecretString::from(text.to_owned()))
    }
    fn render(value: &SecretString) -> Option<String> {
        Some(value.expose_secret().to_owned())
    }
}

/// An HMAC key: a secret of at least 32 bytes.
pub struct SigningKey;

impl Codec for SigningKey {
    type Value = SecretString;
    const UNIT: Unit = Unit::Text;
    fn parse(text: &str) -> Result<SecretString, String> {
        if text.len() < 32 {
            return Err("must be at least 32 characters long".into());
        }
        Ok(SecretString::from(text.to_owned()))
    }
    fn render(value: &SecretString) -> Option<String> {
        Some(value.expose_secret().to_owned())
    }
}

/// Another codec's value, or nothing when the variable is unset (rendered: left unset).
pub struct Maybe<C>(PhantomData<C>);

impl<C: Codec> Codec for Maybe<C> {
    type Value = Option<C::Value>;
    const UNIT: Unit = C::UNIT;
    const READ: Read = C::READ;
    fn parse(text: &str) -> Result<Option<C::Value>, String> {
        C::parse(text).map(Some)
    }
    fn render(value: &Option<C::Value>) -> Option<String> {
        value.as_ref().and_then(C::render)
    }
}

/// A limit where `0` means "no limit" (`None`).
pub struct ZeroIsOff;

impl Codec for ZeroIsOff {
    type Value = Option<u32>;
    const UNIT: Unit = Unit::Count;
    fn parse(text: &str) -> Result<Option<u32>, String> {
        let n: u32 = from_str(text)?;
        Ok((n > 0).then_some(n))
    }
    fn render(value: &Option<u32>) -> Option<String> {
        Some(value.unwrap_or(0).to_string())
    }
}

/// A comma-separated list (items trimmed, empty ones dropped). Read exactly: set to the
/// empty string, the list is empty; unset, the default applies.
pub struct List;

impl Codec for List {
    type Value = Vec<String>;
    const UNIT: Unit = Unit::List;
    const READ: Read = Read::Exact;
    fn parse(text: &str) -> Result<Vec<String>, String> {
        Ok(text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect())
    }
    fn render(value: &Vec<String>) -> Option<String> {
        Some(value.join(","))
    }
}

/// The log format, `json` or `pretty`.
pub struct Format;

impl Codec for Format {
    type Value = LogFormat;
    const UNIT: Unit = Unit::Text;
    fn parse(text: &str) -> Result<LogFormat, String> {
        from_str(text)
    }
    fn render(value: &LogFormat) -> Option<String> {
        Some(value.as_str().to_owned())
    }
}
