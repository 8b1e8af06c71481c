//! The address policy for outbound URL fetching (SSRF protection), shared by the API, which refuses
//! bad URLs synchronously, and the worker, which checks every address a host name resolves to.
//!
//! Three classes of destination:
//! - loopback (`127.0.0.0/8`, `::1`): allowed only with [`AddressPolicy::allow_loopback`];
//! - every other non-global unicast address (private, shared/CGNAT, link-local, unique-local,
//!   site-local, documentation, benchmarking, reserved, …): allowed only with
//!   [`AddressPolicy::allow_private`];
//! - unspecified (`0.0.0.0/8`, `::`), multicast and broadcast: always refused. They are never a
//!   legitimate fetch target, and connecting to `0.0.0.0` reaches the local host on Linux, so
//!   letting `allow_private` open them would turn it into a loopback bypass.
//!
//! IPv6 addresses that embed an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible
//! `::a.b.c.d`, NAT64 `64:ff9b::/96` and 6to4 `2002::/16`) are judged by the embedded address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// Which non-public destinations outbound fetches may reach. The default refuses them all.
#[derive(Clone, Copy, Debug, Default)]
pub struct AddressPolicy {
    /// Allow loopback addresses (tests and local development).
    pub allow_loopback: bool,
    /// Allow private and other non-global unicast addresses (e.g. fetching from an intranet).
    pub allow_private: bool,
}

/// Why a URL or address is refused; the message is fit for an API error detail or a job's
/// failure reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The scheme is not `http` or `https`.
    #[error("URL scheme \"{0}\" is not allowed (only http and https)")]
    Scheme(String),
    /// The URL does not parse or has no host.
    #[error("malformed URL: {0}")]
    Malformed(String),
    /// The URL carries `user:password@`.
    #[error("URLs with credentials (user:password@) are not allowed")]
    Credentials,
    /// The destination address is in a refused class.
    #[error("address {ip} is {class}")]
    Address { ip: IpAddr, class: &'static str },
}

/// How an address is treated by the policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Global,
    Loopback,
    /// Non-global unicast, named for the message.
    NonGlobal(&'static str),
    /// Never allowed, named for the message.
    Never(&'static str),
}

impl AddressPolicy {
    /// Checks one destination address against the policy.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Refusal> {
        let (allowed, class) = match classify(ip) {
            Class::Global => return Ok(()),
            Class::Loopback => (self.allow_loopback, "loopback"),
            Class::NonGlobal(class) => (self.allow_private, class),
            Class::Never(class) => (false, class),
        };
        if allowed {
            Ok(())
        } else {
            Err(Refusal::Address { ip, class })
        }
    }

    /// Parses `raw` and checks everything that can be checked without resolving host names:
    /// scheme, credentials and, when the host is an IP literal (in any form the URL parser
    /// normalises, e.g. `http://2130706433/` or `http://0x7f.1/`), its address. Host names are
    /// checked later, against the addresses they resolve to.
    pub fn check_url(&self, raw: &str) -> Result<Url, Refusal> {
        let url = Url::parse(raw).map_err(|e| Refusal::Malformed(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refusal::Scheme(url.scheme().to_owned()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refusal::Credentials);
        }
        match url.host() {
            None => return Err(Refusal::Malformed("URL has no host".to_owned())),
            Some(Host::Domain(_)) => {}
            Some(Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip))?,
            Some(Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip))?,
        }
        Ok(url)
    }
}

fn classify(ip: IpAddr) -> Class {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Class {
    let [a, b, c, _] = ip.octets();
    match (a, b, c) {
        (0, _, _) => Class::Never("unspecified"),
        (127, _, _) => Class::Loopback,
        _ if ip.is_broadcast() => Class::Never("broadcast"),
        (224..=239, _, _) => Class::Never("multicast"),
        (10, _, _) | (172, 16..=31, _) | (192, 168, _) => Class::NonGlobal("private"),
        (100, 64..=127, _) => Class::NonGlobal("shared address space (CGNAT)"),
        (169, 254, _) => Class::NonGlobal("link-local"),
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => {
            Class::NonGlobal("reserved for documentation")
        }
        (198, 18..=19, _) => Class::NonGlobal("reserved for benchmarking"),
        // 192.0.0.0/24: IETF protocol assignments; 192.88.99.0/24: deprecated 6to4 relays;
        // 240.0.0.0/4: reserved for future use.
        (192, 0, 0) | (192, 88, 99) | (240..=255, _, _) => Class::NonGlobal("reserved"),
        _ => Class::Global,
    }
}

fn classify_v6(ip: Ipv6Addr) -> Class {
    if ip.is_unspecified() {
        return Class::Never("unspecified");
    }
    if ip.is_loopback() {
        return Class::Loopback;
    }
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4);
    }
    let s = ip.segments();
    match s[0] {
        0xff00..=0xffff => Class::Never("multicast"),
        0xfe80..=0xfebf => Class::NonGlobal("link-local"),
        0xfec0..=0xfeff => Class::NonGlobal("site-local"),
        0xfc00..=0xfdff => Class::NonGlobal("unique-local"),
        0x0100 if s[1..4] == [0, 0, 0] => Class::NonGlobal("reserved (discard-only)"),
        0x2001 if s[1] == 0x0db8 => Class::NonGlobal("reserved for documentation"),
        0x3fff if s[1] < 0x1000 => Class::NonGlobal("reserved for documentation"),
        // 2001::/23: IETF protocol assignments (Teredo, ORCHID, …); 5f00::/16: SRv6 SIDs.
        0x2001 if s[1] < 0x0200 => Class::NonGlobal("reserved"),
        0x5f00 => Class::NonGlobal("reserved"),
        // Only 2000::/3 is allocated as global unicast; everything else left (including
        // 64:ff9b:1::/48 local-use NAT64) is reserved.
        0x2000..=0x3fff => Class::Global,
        _ => Class::NonGlobal("reserved"),
    }
}

/// The IPv4 address embedded in an IPv4-mapped, IPv4-compatible, NAT64 (`64:ff9b::/96`) or 6to4
/// (`2002::/16`) IPv6 address. `::` and `::1` must be handled before this.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    match s {
        [0, 0, 0, 0, 0, 0xffff, hi, lo] | [0, 0, 0, 0, 0, 0, hi, lo] => Some(low(hi, lo)),
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(low(hi, lo)),
        [0x2002, hi, lo, ..] => Some(low(hi, lo)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: AddressPolicy = AddressPolicy {
        allow_loopback: false,
        allow_private: false,
    };
    const LOOPBACK: AddressPolicy = AddressPolicy {
        allow_loopback: true,
        allow_private: false,
    };
    const PRIVATE: AddressPolicy = AddressPolicy {
        allow_loopback: false,
        allow_private: true,
    };
    const BOTH: AddressPolicy = AddressPolicy {
        allow_loopback: true,
        allow_private: true,
    };

    /// Which of the four flag combinations (none, loopback, private, both) allow the address.
    type Allowed = [bool; 4];
    const GLOBAL: Allowed = [true, true, true, true];
    const LOOP: Allowed = [false, true, false, true];
    const PRIV: Allowed = [false, false, true, true];
    const NEVER: Allowed = [false, false, false, false];

    fn policies() -> [AddressPolicy; 4] {
        [NONE, LOOPBACK, PRIVATE, BOTH]
    }

    #[test]
    fn ip_table() {
        let table: &[(&str, Allowed)] = &[
            // Global.
            ("8.8.8.8", GLOBAL),
            ("1.1.1.1", GLOBAL),
            ("93.184.216.34", GLOBAL),
            ("172.15.255.255", GLOBAL),
            ("172.32.0.1", GLOBAL),
            ("100.63.255.255", GLOBAL),
            ("100.128.0.1", GLOBAL),
            ("192.0.1.1", GLOBAL),
            ("198.17.255.255", GLOBAL),
            ("198.20.0.1", GLOBAL),
            ("223.255.255.255", GLOBAL),
            ("2606:4700:4700::1111", GLOBAL),
            ("2001:4860:4860::8888", GLOBAL),
            ("2a00:1450:4001::1", GLOBAL),
            ("::ffff:8.8.8.8", GLOBAL),
            ("64:ff9b::808:808", GLOBAL),
            ("2002:808:808::1", GLOBAL),
            // Loopback.
            ("127.0.0.1", LOOP),
            ("127.255.255.254", LOOP),
            ("::1", LOOP),
            ("::ffff:127.0.0.1", LOOP),
            ("::127.0.0.1", LOOP),
            ("64:ff9b::7f00:1", LOOP),
            ("2002:7f00:1::", LOOP),
            // Private and other non-global unicast.
            ("10.0.0.1", PRIV),
            ("10.255.255.255", PRIV),
            ("172.16.0.1", PRIV),
            ("172.31.255.255", PRIV),
            ("192.168.1.1", PRIV),
            ("100.64.0.1", PRIV),
            ("100.127.255.255", PRIV),
            ("169.254.169.254", PRIV),
            ("192.0.0.8", PRIV),
            ("192.0.2.1", PRIV),
            ("198.51.100.7", PRIV),
            ("203.0.113.9", PRIV),
            ("198.18.0.1", PRIV),
            ("198.19.255.255", PRIV),
            ("192.88.99.1", PRIV),
            ("240.0.0.1", PRIV),
            ("255.255.255.254", PRIV),
            ("fe80::1", PRIV),
            ("febf::1", PRIV),
            ("fec0::1", PRIV),
            ("fc00::1", PRIV),
            ("fd12:3456::1", PRIV),
            ("100::1", PRIV),
            ("2001:db8::1", PRIV),
            ("3fff::1", PRIV),
            ("2001::1", PRIV),
            ("2001:10::1", PRIV),
            ("5f00::1", PRIV),
            ("64:ff9b:1::1", PRIV),
            ("4000::1", PRIV),
            ("::ffff:10.0.0.1", PRIV),
            ("::ffff:169.254.169.254", PRIV),
            ("64:ff9b::a00:1", PRIV),
            ("::192.168.0.1", PRIV),
            ("2002:c0a8:101::", PRIV),
            // Never.
            ("0.0.0.0", NEVER),
            ("0.1.2.3", NEVER),
            ("255.255.255.255", NEVER),
            ("224.0.0.1", NEVER),
            ("239.255.255.250", NEVER),
            ("::", NEVER),
            ("ff02::1", NEVER),
            ("ff05::2", NEVER),
            ("::ffff:0.0.0.0", NEVER),
            ("::ffff:224.0.0.1", NEVER),
        ];
        for (ip, allowed) in table {
            let parsed: IpAddr = ip.parse().unwrap();
            for (policy, want) in policies().iter().zip(allowed) {
                let got = policy.check_ip(parsed);
                assert_eq!(got.is_ok(), *want, "{ip} with {policy:?}: {got:?}");
            }
        }
    }

    #[test]
    fn refusal_messages() {
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(
            NONE.check_ip(ip).unwrap_err().to_string(),
            "address 10.0.0.1 is private"
        );
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            NONE.check_ip(ip).unwrap_err(),
            Refusal::Address {
                ip,
                class: "loopback"
            }
        );
        let ip: IpAddr = "::ffff:169.254.169.254".parse().unwrap();
        assert_eq!(
            NONE.check_ip(ip).unwrap_err().to_string(),
            "address ::ffff:169.254.169.254 is link-local"
        );
        assert_eq!(
            NONE.check_url("ftp://example.com/")
                .unwrap_err()
                .to_string(),
            "URL scheme \"ftp\" is not allowed (only http and https)"
        );
        assert_eq!(
            NONE.check_url("http://u:p@example.com/")
                .unwrap_err()
                .to_string(),
            "URLs with credentials (user:password@) are not allowed"
        );
        assert!(
            NONE.check_url("not a url")
                .unwrap_err()
                .to_string()
                .starts_with("malformed URL: ")
        );
    }

    #[test]
    fn url_table() {
        let table: &[(&str, Allowed)] = &[
            ("http://example.com/", GLOBAL),
            ("https://example.com:8443/path?q=1#frag", GLOBAL),
            ("HTTPS://EXAMPLE.COM/", GLOBAL),
            ("http://8.8.8.8/", GLOBAL),
            ("http://[2606:4700:4700::1111]/", GLOBAL),
            // Host names are not resolved here, whatever they look like.
            ("http://localhost/", GLOBAL),
            ("http://internal.corp./", GLOBAL),
            // Loopback literals in their many spellings.
            ("http://127.0.0.1/", LOOP),
            ("http://127.0.0.1:8080/x", LOOP),
            ("http://[::1]/", LOOP),
            ("http://[::ffff:127.0.0.1]/", LOOP),
            ("http://[::ffff:7f00:1]/", LOOP),
            ("http://2130706433/", LOOP),
            ("http://0x7f.1/", LOOP),
            ("http://0177.0.0.1/", LOOP),
            ("http://127.1/", LOOP),
            // Private literals.
            ("http://10.0.0.1/", PRIV),
            ("http://169.254.169.254/latest/meta-data/", PRIV),
            ("http://0xa9fea9fe/", PRIV),
            ("http://[fd00::1]/", PRIV),
            ("http://[fe80::1]/", PRIV),
            ("https://192.168.0.1:443/", PRIV),
            ("http://[64:ff9b::a00:1]/", PRIV),
            // Never.
            ("http://0.0.0.0/", NEVER),
            ("http://0/", NEVER),
            ("http://[::]/", NEVER),
            ("http://255.255.255.255/", NEVER),
            ("http://224.0.0.1/", NEVER),
            // Wrong scheme, credentials, malformed.
            ("ftp://example.com/", NEVER),
            ("file:///etc/passwd", NEVER),
            ("gopher://example.com/", NEVER),
            ("javascript:alert(1)", NEVER),
            ("data:text/plain,hi", NEVER),
            ("ws://example.com/", NEVER),
            ("http://user:pass@example.com/", NEVER),
            ("http://user@example.com/", NEVER),
            ("http://:pass@example.com/", NEVER),
            ("http://example.com@127.0.0.1/", NEVER),
            ("", NEVER),
            ("example.com", NEVER),
            ("/relative/path", NEVER),
            ("http://", NEVER),
            // The WHATWG parser skips extra slashes: this is host "path".
            ("http:///path", GLOBAL),
            ("http://[::1/", NEVER),
            ("http://exa mple.com/", NEVER),
            ("http://256.256.256.256/", NEVER),
        ];
        for (raw, allowed) in table {
            for (policy, want) in policies().iter().zip(allowed) {
                let got = policy.check_url(raw);
                assert_eq!(got.is_ok(), *want, "{raw:?} with {policy:?}: {got:?}");
            }
        }
    }

    #[test]
    fn url_refusal_kinds() {
        assert_eq!(
            BOTH.check_url("FTP://example.com/"),
            Err(Refusal::Scheme("ftp".to_owned()))
        );
        assert_eq!(
            BOTH.check_url("file:///etc/passwd"),
            Err(Refusal::Scheme("file".to_owned()))
        );
        assert_eq!(
            BOTH.check_url("http://a:b@example.com/"),
            Err(Refusal::Credentials)
        );
        assert!(matches!(
            BOTH.check_url("http://"),
            Err(Refusal::Malformed(_))
        ));
        assert_eq!(
            NONE.check_url("http://0x7f.1/"),
            Err(Refusal::Address {
                ip: "127.0.0.1".parse().unwrap(),
                class: "loopback"
            })
        );
    }

    #[test]
    fn check_url_returns_the_normalised_url() {
        let url = NONE.check_url("HTTP://Example.COM:80/a/../b").unwrap();
        assert_eq!(url.as_str(), "http://example.com/b");
        let url = LOOPBACK.check_url("http://2130706433:8080/").unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:8080/");
    }

    #[test]
    fn default_refuses_everything_non_global() {
        let policy = AddressPolicy::default();
        assert!(!policy.allow_loopback && !policy.allow_private);
        assert!(policy.check_ip("127.0.0.1".parse().unwrap()).is_err());
        assert!(policy.check_ip("10.1.2.3".parse().unwrap()).is_err());
        assert!(policy.check_ip("8.8.4.4".parse().unwrap()).is_ok());
    }
}
