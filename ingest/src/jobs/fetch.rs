//! An SSRF-safe HTTP fetcher for `word_count` jobs over a URL.
//!
//! - every URL, the first and each redirect target, passes [`AddressPolicy::check_url`], which
//!   refuses bad schemes, credentials and refused IP literals (literals never reach the resolver);
//! - host names are resolved by [`PolicyResolver`], which refuses the whole name if any address
//!   fails [`AddressPolicy::check_ip`]; the connection uses exactly the checked addresses, so DNS
//!   rebinding between check and connect is impossible;
//! - redirects are followed by hand, proxies (including environment variables) are disabled;
//! - the whole fetch, redirects and body included, is capped in time and size.

use std::error::Error as _;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{CONTENT_TYPE, LOCATION};
use roost_common::netpolicy::{AddressPolicy, Refusal};
use url::Url;

const USER_AGENT: &str = "roost-word-count/1";

/// Limits of one fetch.
#[derive(Clone, Debug)]
pub struct FetchPolicy {
    /// Which destination addresses may be reached.
    pub addresses: AddressPolicy,
    /// Cap on the whole fetch: every redirect, connection and the body.
    pub timeout: Duration,
    /// Cap on the response body, in bytes.
    pub max_bytes: usize,
    /// How many redirects are followed before giving up.
    pub max_redirects: usize,
}

/// A successfully fetched document.
#[derive(Clone, Debug)]
pub struct Fetched {
    /// The URL after redirects.
    pub final_url: Url,
    /// The `Content-Type` header, if any and valid.
    pub content_type: Option<String>,
    /// The body, decoded as UTF-8 (invalid sequences replaced).
    pub text: String,
}

/// Why a fetch failed; the message is fit for a job's failure reason.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("URL not allowed: {0}")]
    NotAllowed(Refusal),
    #[error("response is larger than {max_bytes} bytes")]
    TooLarge { max_bytes: usize },
    #[error("fetching the URL timed out")]
    Timeout,
    #[error("the server answered with HTTP status {0}")]
    Status(u16),
    #[error("too many redirects")]
    TooManyRedirects,
    #[error("{0}")]
    Transport(String),
}

impl FetchError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            FetchError::Timeout | FetchError::Transport(_) => true,
            FetchError::Status(status) => *status == 429 || (500..=599).contains(status),
            FetchError::NotAllowed(_)
            | FetchError::TooLarge { .. }
            | FetchError::TooManyRedirects => false,
        }
    }
}

/// Fetches URLs under a [`FetchPolicy`]. Cheap to clone (the connection pool is shared).
#[derive(Clone, Debug)]
pub struct Fetcher {
    client: reqwest::Client,
    policy: FetchPolicy,
}

impl Fetcher {
    pub fn new(policy: FetchPolicy) -> anyhow::Result<Fetcher> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(PolicyResolver {
                addresses: policy.addresses,
            })
            .connect_timeout(policy.timeout)
            .user_agent(USER_AGENT)
            .build()
            .context("building the HTTP client for URL fetching")?;
        Ok(Fetcher { client, policy })
    }

    /// Fetches `url` (a GET), following redirects, within the policy's limits.
    pub async fn fetch(&self, url: &str) -> Result<Fetched, FetchError> {
        tokio::time::timeout(self.policy.timeout, self.fetch_unbounded(url))
            .await
            .unwrap_or(Err(FetchError::Timeout))
    }

    async fn fetch_unbounded(&self, raw: &str) -> Result<Fetched, FetchError> {
        let mut url = self.check_url(raw)?;
        let mut redirects = 0;
        loop {
            let response = self
                .client
                .get(url.clone())
                .send()
                .await
                .map_err(from_reqwest)?;
            let status = response.status();
            if matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
                && let Some(location) = response.headers().get(LOCATION)
            {
                if redirects >= self.policy.max_redirects {
                    return Err(FetchError::TooManyRedirects);
                }
                redirects += 1;
                let malformed = || {
                    FetchError::NotAllowed(Refusal::Malformed(
                        "invalid redirect location".to_owned(),
                    ))
                };
                let location = std::str::from_utf8(location.as_bytes()).map_err(|_| malformed())?;
                let next = url.join(location).map_err(|_| malformed())?;
                url = self.check_url(next.as_str())?;
                continue;
            }
            if !status.is_success() {
                return Err(FetchError::Status(status.as_u16()));
            }
            return self.read_body(url, response).await;
        }
    }

    fn check_url(&self, raw: &str) -> Result<Url, FetchError> {
        self.policy
            .addresses
            .check_url(raw)
            .map_err(FetchError::NotAllowed)
    }

    async fn read_body(
        &self,
        final_url: Url,
        mut response: reqwest::Response,
    ) -> Result<Fetched, FetchError> {
        let max_bytes = self.policy.max_bytes;
        let too_large = FetchError::TooLarge { max_bytes };
        let announced = response.content_length();
        if announced.is_some_and(|len| len > max_bytes as u64) {
            return Err(too_large);
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let capacity = announced.map_or(0, |len| len as usize).min(max_bytes);
        let mut body = Vec::with_capacity(capacity);
        while let Some(chunk) = response.chunk().await.map_err(from_reqwest)? {
            if body.len() + chunk.len() > max_bytes {
                return Err(too_large);
            }
            body.extend_from_slice(&chunk);
        }
        let text = match String::from_utf8(body) {
            Ok(text) => text,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        Ok(Fetched {
            final_url,
            content_type,
            text,
        })
    }
}

/// A resolution failure from [`PolicyResolver`], found again in reqwest's error source chain.
#[derive(Debug, thiserror::Error)]
enum ResolveError {
    #[error("{0}")]
    Refused(Refusal),
    #[error("could not resolve host name {0}")]
    Lookup(String),
}

/// Resolves with the system resolver and refuses a name if any of its addresses is refused, so
/// a name cannot smuggle a refused address in among allowed ones.
struct PolicyResolver {
    addresses: AddressPolicy,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.addresses;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|_| ResolveError::Lookup(host.clone()))?
                .collect();
            if addrs.is_empty() {
                return Err(ResolveError::Lookup(host).into());
            }
            for addr in &addrs {
                policy.check_ip(addr.ip()).map_err(ResolveError::Refused)?;
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// Maps a reqwest error to a failure reason without reqwest's internal wording.
fn from_reqwest(err: reqwest::Error) -> FetchError {
    let mut io_kind = None;
    let mut source = err.source();
    while let Some(cause) = source {
        if let Some(resolve) = cause.downcast_ref::<ResolveError>() {
            return match resolve {
                ResolveError::Refused(refusal) => FetchError::NotAllowed(refusal.clone()),
                ResolveError::Lookup(_) => FetchError::Transport(resolve.to_string()),
            };
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            io_kind.get_or_insert(io.kind());
        }
        source = cause.source();
    }
    if err.is_timeout() {
        return FetchError::Timeout;
    }
    let what = if err.is_connect() {
        "could not connect to the server"
    } else if err.is_body() || err.is_decode() {
        "failed to read the response"
    } else {
        "the request failed"
    };
    FetchError::Transport(match io_kind {
        Some(kind) => format!("{what}: {kind}"),
        None => what.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// What the test server does with a request.
    enum Reply {
        /// Writes these bytes and closes.
        Send(Vec<u8>),
        /// Writes these bytes (e.g. only headers) and then stays silent.
        SendThenHang(Vec<u8>),
        /// Writes these headers, then chunked-encoded data forever.
        Endless(Vec<u8>),
    }

    fn response(status: &str, headers: &[(&str, &str)], body: &str) -> Reply {
        let mut out = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        for (name, value) in headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str("\r\n");
        out.push_str(body);
        Reply::Send(out.into_bytes())
    }

    struct Server {
        port: u16,
        connections: Arc<AtomicUsize>,
    }

    /// Starts an HTTP/1.1 server on 127.0.0.1; `handler` gets the path, the request head and the
    /// server's port.
    async fn serve(handler: impl Fn(&str, &str, u16) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        let handler = Arc::new(handler);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let handler = handler.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                    match handler(&path, &head, port) {
                        Reply::Send(bytes) => {
                            let _ = socket.write_all(&bytes).await;
                            let _ = socket.shutdown().await;
                        }
                        Reply::SendThenHang(bytes) => {
                            let _ = socket.write_all(&bytes).await;
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                        }
                        Reply::Endless(headers) => {
                            let _ = socket.write_all(&headers).await;
                            let data = "x".repeat(4096);
                            let chunk = format!("{:x}\r\n{data}\r\n", data.len());
                            while socket.write_all(chunk.as_bytes()).await.is_ok() {}
                        }
                    }
                });
            }
        });
        Server { port, connections }
    }

    /// Accepts connections and never answers.
    async fn silent_server() -> u16 {
        serve(|_, _, _| Reply::SendThenHang(Vec::new())).await.port
    }

    fn policy(allow_loopback: bool) -> FetchPolicy {
        FetchPolicy {
            addresses: AddressPolicy {
                allow_loopback,
                allow_private: false,
            },
            timeout: Duration::from_secs(5),
            max_bytes: 1024,
            max_redirects: 3,
        }
    }

    async fn fetch(policy: FetchPolicy, url: &str) -> Result<Fetched, FetchError> {
        Fetcher::new(policy).unwrap().fetch(url).await
    }

    fn refused_address(result: Result<Fetched, FetchError>) -> (std::net::IpAddr, &'static str) {
        match result {
            Err(FetchError::NotAllowed(Refusal::Address { ip, class })) => (ip, class),
            other => panic!("expected an address refusal, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn fetches_a_page_from_an_allowed_loopback_server() {
        // The server answers with the request's path and User-Agent, which the test checks.
        let server = serve(|path, head, _| {
            let agent = head
                .lines()
                .filter_map(|line| line.split_once(':'))
                .find(|(name, _)| name.eq_ignore_ascii_case("user-agent"))
                .map_or("", |(_, value)| value.trim());
            let body = format!("<p>héllo</p> {path} {agent}");
            response(
                "200 OK",
                &[("Content-Type", "text/html; charset=utf-8")],
                &body,
            )
        })
        .await;
        let url = format!("http://127.0.0.1:{}/page?q=1", server.port);
        let fetched = fetch(policy(true), &url).await.unwrap();
        assert_eq!(fetched.final_url.as_str(), url);
        assert_eq!(
            fetched.content_type.as_deref(),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(fetched.text, "<p>héllo</p> /page?q=1 roost-word-count/1");
    }

    #[tokio::test]
    async fn invalid_utf8_is_replaced() {
        let server = serve(|_, _, _| {
            Reply::Send(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\na\xffb".to_vec())
        })
        .await;
        let fetched = fetch(policy(true), &format!("http://127.0.0.1:{}/", server.port))
            .await
            .unwrap();
        assert_eq!(fetched.text, "a\u{fffd}b");
        assert_eq!(fetched.content_type, None);
    }

    #[tokio::test]
    async fn loopback_literal_refused_without_connecting() {
        let server = serve(|_, _, _| response("200 OK", &[], "hi")).await;
        let result = fetch(policy(false), &format!("http://127.0.0.1:{}/", server.port)).await;
        assert_eq!(
            refused_address(result),
            ("127.0.0.1".parse().unwrap(), "loopback")
        );
        let result = fetch(policy(false), &format!("http://[::1]:{}/", server.port)).await;
        assert_eq!(refused_address(result).1, "loopback");
        let result = fetch(
            policy(false),
            &format!("http://2130706433:{}/", server.port),
        )
        .await;
        assert_eq!(refused_address(result).1, "loopback");
        assert_eq!(server.connections.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn localhost_name_checked_by_the_resolver() {
        let server = serve(|_, _, _| response("200 OK", &[], "hi")).await;
        let url = format!("http://localhost:{}/", server.port);

        let err = fetch(policy(false), &url).await.unwrap_err();
        assert!(!err.is_retryable());
        assert!(
            err.to_string().starts_with("URL not allowed: address ")
                && err.to_string().ends_with(" is loopback"),
            "{err}"
        );
        let FetchError::NotAllowed(Refusal::Address { ip, .. }) = err else {
            panic!("expected an address refusal, got {err:?}");
        };
        assert!(ip.is_loopback());
        assert_eq!(server.connections.load(Ordering::SeqCst), 0);

        let fetched = fetch(policy(true), &url).await.unwrap();
        assert_eq!(fetched.text, "hi");
        assert_eq!(server.connections.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn redirects_are_followed_and_rechecked() {
        let server = serve(|path, _, port| match path {
            "/start" => response("302 Found", &[("Location", "next")], ""),
            "/next" => response(
                "301 Moved Permanently",
                &[("Location", &format!("http://127.0.0.1:{port}/done"))],
                "",
            ),
            "/done" => response("200 OK", &[], "arrived"),
            "/to-private" => response(
                "307 Temporary Redirect",
                &[("Location", "http://10.0.0.1/")],
                "",
            ),
            "/to-file" => response(
                "308 Permanent Redirect",
                &[("Location", "file:///etc/passwd")],
                "",
            ),
            "/to-credentials" => response(
                "303 See Other",
                &[("Location", "http://user:pw@example.com/")],
                "",
            ),
            _ => response("404 Not Found", &[], ""),
        })
        .await;
        let base = format!("http://127.0.0.1:{}", server.port);

        let fetched = fetch(policy(true), &format!("{base}/start")).await.unwrap();
        assert_eq!(fetched.text, "arrived");
        assert_eq!(fetched.final_url.as_str(), format!("{base}/done"));

        let result = fetch(policy(true), &format!("{base}/to-private")).await;
        assert_eq!(
            refused_address(result),
            ("10.0.0.1".parse().unwrap(), "private")
        );
        let result = fetch(policy(true), &format!("{base}/to-file")).await;
        assert!(
            matches!(result, Err(FetchError::NotAllowed(Refusal::Scheme(ref s))) if s == "file"),
            "{result:?}"
        );
        let result = fetch(policy(true), &format!("{base}/to-credentials")).await;
        assert!(
            matches!(result, Err(FetchError::NotAllowed(Refusal::Credentials))),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn redirect_limit() {
        let server = serve(|path, _, _| {
            let n: usize = path.trim_start_matches("/hop/").parse().unwrap();
            if n == 0 {
                response("200 OK", &[], "end")
            } else {
                response("302 Found", &[("Location", &format!("/hop/{}", n - 1))], "")
            }
        })
        .await;
        let base = format!("http://127.0.0.1:{}", server.port);

        // Exactly max_redirects (3) hops are fine.
        let fetched = fetch(policy(true), &format!("{base}/hop/3")).await.unwrap();
        assert_eq!(fetched.text, "end");

        let err = fetch(policy(true), &format!("{base}/hop/100"))
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::TooManyRedirects), "{err:?}");
        assert!(!err.is_retryable());
        // 4 for the successful chain, then the first request and 3 followed redirects.
        assert_eq!(server.connections.load(Ordering::SeqCst), 8);

        let no_redirects = FetchPolicy {
            max_redirects: 0,
            ..policy(true)
        };
        let err = fetch(no_redirects, &format!("{base}/hop/1"))
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::TooManyRedirects), "{err:?}");
    }

    #[tokio::test]
    async fn announced_length_over_the_cap_is_refused_early() {
        // The body never comes: only an early refusal avoids the timeout.
        let server = serve(|_, _, _| {
            Reply::SendThenHang(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nabc".to_vec())
        })
        .await;
        let started = Instant::now();
        let err = fetch(policy(true), &format!("http://127.0.0.1:{}/", server.port))
            .await
            .unwrap_err();
        assert!(
            matches!(err, FetchError::TooLarge { max_bytes: 1024 }),
            "{err:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(!err.is_retryable());
        assert_eq!(err.to_string(), "response is larger than 1024 bytes");
    }

    #[tokio::test]
    async fn endless_chunked_body_is_cut_off() {
        let server = serve(|_, _, _| {
            Reply::Endless(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec())
        })
        .await;
        let err = fetch(policy(true), &format!("http://127.0.0.1:{}/", server.port))
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::TooLarge { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn body_without_length_over_the_cap_is_cut_off() {
        let server = serve(|path, _, _| {
            let size = if path == "/big" { 1025 } else { 1024 };
            let mut bytes = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
            bytes.extend(std::iter::repeat_n(b'a', size));
            Reply::Send(bytes)
        })
        .await;
        let base = format!("http://127.0.0.1:{}", server.port);
        let err = fetch(policy(true), &format!("{base}/big"))
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::TooLarge { .. }), "{err:?}");
        // Exactly max_bytes is allowed.
        let fetched = fetch(policy(true), &format!("{base}/exact")).await.unwrap();
        assert_eq!(fetched.text.len(), 1024);
    }

    #[tokio::test]
    async fn silent_server_times_out_within_the_cap() {
        let port = silent_server().await;
        let short = FetchPolicy {
            timeout: Duration::from_millis(300),
            ..policy(true)
        };
        let started = Instant::now();
        let err = fetch(short, &format!("http://127.0.0.1:{port}/"))
            .await
            .unwrap_err();
        let elapsed = started.elapsed();
        assert!(matches!(err, FetchError::Timeout), "{err:?}");
        assert!(err.is_retryable());
        assert!(elapsed >= Duration::from_millis(250), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
    }

    #[tokio::test]
    async fn stalled_body_times_out() {
        let server = serve(|_, _, _| {
            Reply::SendThenHang(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc".to_vec())
        })
        .await;
        let short = FetchPolicy {
            timeout: Duration::from_millis(300),
            ..policy(true)
        };
        let err = fetch(short, &format!("http://127.0.0.1:{}/", server.port))
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::Timeout), "{err:?}");
    }

    #[tokio::test]
    async fn error_statuses() {
        let server = serve(|path, _, _| match path {
            "/missing" => response("404 Not Found", &[], "nope"),
            "/down" => response("503 Service Unavailable", &[], ""),
            "/slow-down" => response("429 Too Many Requests", &[], ""),
            // A redirect status without a Location is just an unsuccessful status.
            _ => response("302 Found", &[], ""),
        })
        .await;
        let base = format!("http://127.0.0.1:{}", server.port);

        let err = fetch(policy(true), &format!("{base}/missing"))
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::Status(404)), "{err:?}");
        assert!(!err.is_retryable());
        assert_eq!(err.to_string(), "the server answered with HTTP status 404");

        let err = fetch(policy(true), &format!("{base}/down"))
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::Status(503)), "{err:?}");
        assert!(err.is_retryable());

        let err = fetch(policy(true), &format!("{base}/slow-down"))
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::Status(429)), "{err:?}");
        assert!(err.is_retryable());

        let err = fetch(policy(true), &format!("{base}/nowhere"))
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::Status(302)), "{err:?}");
    }

    #[tokio::test]
    async fn non_http_schemes_are_refused() {
        for url in [
            "ftp://example.com/file",
            "file:///etc/passwd",
            "gopher://x/",
        ] {
            let err = fetch(policy(true), url).await.unwrap_err();
            assert!(
                matches!(err, FetchError::NotAllowed(Refusal::Scheme(_))),
                "{url}: {err:?}"
            );
            assert!(!err.is_retryable());
        }
        let err = fetch(policy(true), "file:///etc/passwd").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "URL not allowed: URL scheme \"file\" is not allowed (only http and https)"
        );
    }

    #[tokio::test]
    async fn connection_refused_is_a_retryable_transport_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let err = fetch(policy(true), &format!("http://127.0.0.1:{port}/"))
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::Transport(_)), "{err:?}");
        assert!(err.is_retryable());
        assert_eq!(
            err.to_string(),
            "could not connect to the server: connection refused"
        );
    }

    #[tokio::test]
    async fn unresolvable_name_is_a_transport_error() {
        let err = fetch(policy(true), "http://does-not-exist.invalid/")
            .await
            .unwrap_err();
        // Without a reachable DNS server the lookup may outlast the cap instead.
        if !matches!(err, FetchError::Timeout) {
            assert_eq!(
                err.to_string(),
                "could not resolve host name does-not-exist.invalid"
            );
        }
        assert!(err.is_retryable());
    }

    #[test]
    fn retryability() {
        let refusal = Refusal::Credentials;
        let table = [
            (FetchError::NotAllowed(refusal), false),
            (FetchError::TooLarge { max_bytes: 1 }, false),
            (FetchError::Timeout, true),
            (FetchError::Status(400), false),
            (FetchError::Status(404), false),
            (FetchError::Status(429), true),
            (FetchError::Status(500), true),
            (FetchError::Status(503), true),
            (FetchError::Status(599), true),
            (FetchError::TooManyRedirects, false),
            (FetchError::Transport("x".to_owned()), true),
        ];
        for (err, retryable) in table {
            assert_eq!(err.is_retryable(), retryable, "{err:?}");
        }
    }
}
