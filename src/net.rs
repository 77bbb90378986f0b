//! Rules every HTTP client of the app follows with servers it does not
//! control: redirects stay on the origin the user chose (so credentials
//! and request bodies never travel to another host, port or scheme), and
//! a response body is read only up to a size limit.

use reqwest::Url;
use reqwest::redirect::{Attempt, Policy};

/// Most redirects followed for one request.
const MAX_REDIRECTS: usize = 5;

/// Why a redirect was not followed. Its message names the two origins
/// (scheme, host and port, never userinfo or path).
#[derive(Debug, thiserror::Error)]
#[error(
    "refused a redirect from {from} to {to}: sage only follows redirects within the server you configured, so your key and request never go elsewhere; point the URL at the final server instead"
)]
pub struct RedirectRefused {
    /// The origin the request was sent to.
    pub from: String,
    /// The origin the server redirected to.
    pub to: String,
}

/// Why a redirect chain was cut short.
#[derive(Debug, thiserror::Error)]
#[error("more than {MAX_REDIRECTS} redirects; check the server URL")]
pub struct TooManyRedirects;

/// A redirect policy that follows a few redirects on the first URL's
/// origin and refuses any that changes scheme, host or port.
pub fn same_origin_redirects() -> Policy {
    Policy::custom(|attempt: Attempt<'_>| {
        let Some(first) = attempt.previous().first() else {
            return attempt.follow();
        };
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error(TooManyRedirects);
        }
        if same_origin(first, attempt.url()) {
            attempt.follow()
        } else {
            let refused = RedirectRefused {
                from: origin(first),
                to: origin(attempt.url()),
            };
            attempt.error(refused)
        }
    })
}

/// Whether two URLs share scheme, host and port.
pub fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// `scheme://host[:port]` of a URL, without userinfo or path.
pub fn origin(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

/// `text` with the user info (`user:secret@`) of every URL in it removed,
/// so a credential written into a URL is never stored or shown. Works on
/// any text: a bare URL, an LLM spec, an error message quoting URLs.
pub fn strip_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (before, after) = rest.split_at(i + 3);
        out.push_str(before);
        let end = after
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace())
            .unwrap_or(after.len());
        let authority = &after[..end];
        match authority.rfind('@') {
            Some(at) => out.push_str(&authority[at + 1..]),
            None => out.push_str(authority),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// An error and all its causes on one line (reqwest keeps the useful part,
/// such as a refused redirect's reason, in `source`).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Why a response body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The body is larger than the limit (announced or actually sent).
    #[error(
        "the server's answer is larger than {limit} bytes, more than sage accepts; check that the URL points at the right server"
    )]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The connection failed while the body was read.
    #[error("the connection broke while reading the answer: {0}")]
    Transport(#[from] reqwest::Error),
}

/// Reads a response body, refusing one longer than `limit` bytes: an
/// announced `content-length` over the limit is refused before reading,
/// and a body that keeps coming is cut as soon as it passes the limit.
pub async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let url = |s: &str| Url::parse(s).unwrap();
        assert!(same_origin(
            &url("https://a.org/x"),
            &url("https://a.org:443/y")
        ));
        assert!(!same_origin(&url("https://a.org/"), &url("http://a.org/")));
        assert!(!same_origin(
            &url("http://a.org:1/"),
            &url("http://a.org:2/")
        ));
        assert!(!same_origin(&url("http://a.org/"), &url("http://b.org/")));
        assert_eq!(origin(&url("http://u:p@a.org:8/x?q")), "http://a.org:8");
    }

    #[test]
    fn user_info_is_stripped_from_every_url_in_a_text() {
        assert_eq!(strip_userinfo("http://u:p@h:1/v1#m"), "http://h:1/v1#m");
        assert_eq!(
            strip_userinfo("GET https://me:s3cr@t@np.org/api failed; see http://x.org/a@b"),
            "GET https://np.org/api failed; see http://x.org/a@b"
        );
        assert_eq!(strip_userinfo("openai:gpt-4o"), "openai:gpt-4o");
        assert_eq!(strip_userinfo("to tok@host://"), "to tok@host://");
        assert_eq!(strip_userinfo("(http://a:b@h)"), "(http://h)");
    }
}
