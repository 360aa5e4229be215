//! The web page at `/`: a chat with the assistant in plain HTML, JavaScript and CSS, embedded
//! in the binary.

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

/// `GET /`: the page.
pub async fn index() -> Html<&'static str> {
    Html(include_str!("web/index.html"))
}

/// `GET /app.js`: the page's script.
pub async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("web/app.js"),
    )
        .into_response()
}

/// `GET /style.css`: the page's style sheet.
pub async fn style() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("web/style.css"),
    )
        .into_response()
}
