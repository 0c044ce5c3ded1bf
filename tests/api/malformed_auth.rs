use serde_json::json;

use crate::backend::on_every_backend;
use crate::helpers::*;

on_every_backend!(every_malformed_authorization_header_gets_the_same_401,);

async fn every_malformed_authorization_header_gets_the_same_401() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    // Just under the 64 KiB head limit (past it: 431, see `connections`).
    let long = format!("Basic {}", "QUFB".repeat(15 * 1024)).into_bytes();
    let shapes: Vec<(&str, Vec<u8>)> = vec![
        ("not Basic", b"Bearer abcdef".to_vec()),
        ("no credentials after the scheme", b"Basic".to_vec()),
        ("bad base64", b"Basic %%%not-base64%%%".to_vec()),
        ("no colon", b"Basic YWRtaW4=".to_vec()),
        ("not UTF-8", b"Basic //79OnBhc3N3b3Jk".to_vec()),
        ("empty username", b"Basic OnBhc3N3b3Jk".to_vec()),
        ("empty password", b"Basic YWRtaW46".to_vec()),
        ("empty header", b"".to_vec()),
        ("non-ASCII header bytes", b"Basic \xe9\xe9".to_vec()),
        ("60 KiB long", long),
    ];
    let reference = app.gql(VIEWER, json!({}), &Auth::None).await;
    reference.assert_unauthenticated();
    for (shape, raw) in shapes {
        let reply = app.gql(VIEWER, json!({}), &Auth::Raw(raw)).await;
        assert_eq!(reply.status, 401, "{shape}: {reply:?}");
        reply.assert_unauthenticated();
        assert_eq!(reply.body, reference.body, "{shape}");
    }
    // The server is still fine.
    app.ok(VIEWER, json!({}), &Auth::admin()).await;
}
