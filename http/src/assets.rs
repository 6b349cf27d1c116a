//! The web page: the files of `web/dist` (built from `web/src` by the pinned
//! npm toolchain and committed), embedded in the binary at compile time, so
//! running the engine needs no Node.js. `/` is `index.html`.

use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use include_dir::{include_dir, Dir};

static DIST: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../web/dist");

/// `/` and every file of the page; everything outside `/api/v1`.
pub fn router() -> Router {
    Router::new()
        .route("/", get(|| async { file("index.html") }))
        .fallback(get(|uri: Uri| async move {
            file(uri.path().trim_start_matches('/'))
        }))
}

fn file(path: &str) -> Response {
    let Some(found) = DIST.get_file(path) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let mime = match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") | Some("mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(mime)),
            // The page changes with the binary; revalidate every load.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        found.contents(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_embedded() {
        let index = DIST.get_file("index.html").expect("web/dist/index.html");
        let html = std::str::from_utf8(index.contents()).unwrap();
        assert!(html.contains("<script"), "index.html loads the app");
    }
}
