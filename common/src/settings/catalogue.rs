//! The catalogue of settings: one [`Setting`] row per environment variable (name, default,
//! unit, meaning). [`super::Settings::catalogue`] lists the rows of the loader; [`all`] adds
//! the variables read elsewhere ([`LOG_FILTER`], [`HELM_RELEASE`]); [`markdown_table`] renders
//! them as README.md's configuration table, which a test holds to exactly these rows.

use std::borrow::Cow;

/// One environment variable: what the README's configuration table says of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    /// The variable's name (also readable from the file `<name>_FILE` names, lists excepted).
    pub name: &'static str,
    /// A second variable read when `name` is unset (`DATABASE_URL`, libpq's and sqlx's name).
    pub alias: Option<&'static str>,
    /// The unit or shape of the value.
    pub unit: Unit,
    /// What applies when the variable is unset.
    pub default: Default,
    /// What the setting does, one line of Markdown.
    pub description: &'static str,
}

/// The unit or shape of a setting's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// A duration in whole seconds.
    Seconds,
    /// A duration in whole milliseconds.
    Milliseconds,
    /// A number of days.
    Days,
    /// A size in bytes.
    Bytes,
    /// A number of things.
    Count,
    /// `true` or `false`.
    Boolean,
    /// `host:port`.
    Address,
    /// A URL.
    Url,
    /// Free text.
    Text,
    /// A comma-separated list.
    List,
}

impl Unit {
    /// How the table's unit column spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Seconds => "seconds",
            Self::Milliseconds => "milliseconds",
            Self::Days => "days",
            Self::Bytes => "bytes",
            Self::Count => "count",
            Self::Boolean => "`true` / `false`",
            Self::Address => "`host:port`",
            Self::Url => "URL",
            Self::Text => "text",
            Self::List => "comma-separated",
        }
    }
}

/// What applies when a variable is unset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Default {
    /// This value, in the variable's own syntax (what setting it explicitly would mean), and
    /// an optional remark (`(off)`, `(300 in the chart)`).
    Value(Cow<'static, str>, Option<&'static str>),
    /// No value that fits the syntax: the text says what applies (`number of cores`,
    /// `— (required)`).
    Described(&'static str),
}

impl Default {
    /// The table's default cell: a value in backticks (`empty` for the empty text), then its
    /// remark; or the description.
    pub fn cell(&self) -> String {
        match self {
            Self::Value(value, remark) => {
                let value = if value.is_empty() {
                    "empty".to_owned()
                } else {
                    format!("`{value}`")
                };
                match remark {
                    Some(remark) => format!("{value} {remark}"),
                    None => value,
                }
            }
            Self::Described(text) => (*text).to_owned(),
        }
    }
}

/// The log filter's default (`RUST_LOG` unset).
pub const LOG_FILTER_DEFAULT: &str = "info,sqlx=warn,actix_server=warn";

/// `RUST_LOG`, read by the log filter ([`crate::telemetry::init`]), not by the loader.
pub const LOG_FILTER: Setting = Setting {
    name: "RUST_LOG",
    alias: None,
    unit: Unit::Text,
    default: Default::Value(Cow::Borrowed(LOG_FILTER_DEFAULT), None),
    description: "log filter",
};

/// The release `roost-api doctor` checks by default.
pub const HELM_RELEASE_DEFAULT: &str = "roost";

/// `ROOST_HELM_RELEASE`, read by `roost-api doctor` (its `--release`), not by the loader.
pub const HELM_RELEASE: Setting = Setting {
    name: "ROOST_HELM_RELEASE",
    alias: None,
    unit: Unit::Text,
    default: Default::Value(Cow::Borrowed(HELM_RELEASE_DEFAULT), None),
    description: "the release `roost-api doctor` checks when `--release` is not given (the \
                  chart sets it in the API pods)",
};

/// Every variable Roost reads: the loader's ([`super::Settings::catalogue`]), then those read
/// elsewhere.
pub fn all() -> Vec<Setting> {
    let mut rows = super::Settings::catalogue();
    rows.extend([HELM_RELEASE, LOG_FILTER]);
    rows
}

/// The header of the configuration table (two lines).
pub const TABLE_HEADER: &str = "| variable | default | unit | meaning |\n|---|---|---|---|\n";

/// One row of the configuration table: `| name | default | unit | meaning |`.
pub fn table_row(setting: &Setting) -> String {
    let name = match setting.alias {
        Some(alias) => format!("`{}` (or `{alias}`)", setting.name),
        None => format!("`{}`", setting.name),
    };
    format!(
        "| {name} | {} | {} | {} |",
        setting.default.cell(),
        setting.unit.as_str(),
        setting.description
    )
}

/// README.md's configuration table: [`TABLE_HEADER`] and a row per variable of [`all`], one
/// line each, ending in a newline.
pub fn markdown_table() -> String {
    let mut table = TABLE_HEADER.to_owned();
    for setting in all() {
        table.push_str(&table_row(&setting));
        table.push('\n');
    }
    table
}
