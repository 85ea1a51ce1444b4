//! The explorer: one HTML page with its script modules and style, built into the binary so the
//! indexer alone serves it (no build step, nothing to deploy next to it). Every page path
//! (`/`, `/blob/{id}`, `/epoch/{n}`, `/node/{id}`, `/events`) answers the same HTML and the
//! script draws the view from the URL, so every view is linkable; the script reads only the
//! documented `/v1` API.
//!
//! Answers carry an ETag (a hash of the file, fixed at build time) and `no-cache`, so browsers
//! revalidate and get a body-less 304 until the binary changes.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// A file of the page, with its media type and ETag.
struct Asset {
    body: &'static str,
    content_type: &'static str,
    etag: u64,
}

impl Asset {
    const fn new(body: &'static str, content_type: &'static str) -> Self {
        Self { body, content_type, etag: fnv1a(body.as_bytes()) }
    }
}

/// FNV-1a, 64 bits: a stable fingerprint of an asset, computed at compile time.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

static PAGE: Asset = Asset::new(include_str!("../web/index.html"), "text/html; charset=utf-8");
static APP: Asset = Asset::new(include_str!("../web/app.js"), "text/javascript; charset=utf-8");
static CHARTS: Asset = Asset::new(include_str!("../web/charts.js"), "text/javascript; charset=utf-8");
static STYLE: Asset = Asset::new(include_str!("../web/style.css"), "text/css; charset=utf-8");

/// The page's routes, to be merged into the API's router.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let page = || get(|headers: HeaderMap| async move { respond(&PAGE, &headers) });
    Router::new()
        .route("/", page())
        .route("/blob/{id}", page())
        .route("/epoch/{epoch}", page())
        .route("/node/{id}", page())
        .route("/events", page())
        .route("/explorer/app.js", get(|headers: HeaderMap| async move { respond(&APP, &headers) }))
        .route("/explorer/charts.js", get(|headers: HeaderMap| async move { respond(&CHARTS, &headers) }))
        .route("/explorer/style.css", get(|headers: HeaderMap| async move { respond(&STYLE, &headers) }))
}

/// The asset, or a 304 when the request's `If-None-Match` names its current ETag.
fn respond(asset: &Asset, headers: &HeaderMap) -> Response {
    let etag = format!("\"{:016x}\"", asset.etag);
    let cached = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == etag || tag.trim() == "*");
    let etag = HeaderValue::from_str(&etag).expect("hex digits and quotes are a valid header value");
    let cache = (header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if cached {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag), cache]).into_response();
    }
    let content_type = (header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    ([(header::ETAG, etag), cache, content_type], asset.body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_follow_the_content() {
        assert_ne!(fnv1a(b"a"), fnv1a(b"b"));
        // The published FNV-1a 64 value of "a".
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        let headers = HeaderMap::new();
        let first = respond(&APP, &headers);
        assert_eq!(first.status(), StatusCode::OK);
        let etag = first.headers()[header::ETAG].clone();
        let mut revalidate = HeaderMap::new();
        revalidate.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_str(&format!("\"x\", {}", etag.to_str().unwrap())).unwrap(),
        );
        assert_eq!(respond(&APP, &revalidate).status(), StatusCode::NOT_MODIFIED);
        revalidate.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"0000000000000000\""));
        assert_eq!(respond(&APP, &revalidate).status(), StatusCode::OK);
    }
}
