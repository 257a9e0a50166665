//! The README's run command alone gives a working gateway: the embedded default routes one
//! connection per vendor to the built-in sandbox ERPs.

mod common;

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn create_read_list_confirm_cancel_on_every_sandbox_connection() {
    // Whatever this machine's CPUs, both of the runtime's schedulers serve the whole flow:
    // one worker (the current-thread scheduler, a gateway pinned to one core) and several.
    for workers in ["1", "3"] {
        let gw = Gateway::start_default(&[("ORDERGATE_WORKERS", workers)]);
        every_operation_on_every_connection(&gw).await;
        let log = gw.log_text();
        assert!(
            log.contains(&format!("\"workers\":{workers}")),
            "the start line names {workers} workers: {log}"
        );
    }
}

async fn every_operation_on_every_connection(gw: &Gateway) {
    let http = Http::default();
    let a = http.get(&gw.url("/v1/connections")).await;
    let connections: Vec<String> = a.json()["data"]
        .as_array()
        .expect("connections")
        .iter()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect();
    assert!(
        connections.contains(&"dokos".to_string()),
        "{connections:?}"
    );
    for c in &connections {
        let base = gw.url(&format!("/v1/connections/{c}/orders"));
        let order = json!({
            "external_ref": format!("WEB-{c}-1"),
            "customer": {"id": "1", "name": "Roslyn Lépicier", "email": "roslyn@example.com"},
            "delivery_date": "2030-12-01",
            "currency": "EUR",
            "lines": [{"sku": "1", "product_id": "1", "variant_id": "1", "quantity": 2, "unit_price": 12.5}]
        });
        let a = http.post_json(&base, &order).await;
        assert_eq!(
            a.status,
            201,
            "{c}: create: {}",
            String::from_utf8_lossy(&a.body)
        );
        let id = a.json()["id"].as_str().expect("id").to_string();
        assert_eq!(a.json()["connection"], c.as_str());

        let a = http.get(&format!("{base}/{id}")).await;
        assert_eq!(
            a.status,
            200,
            "{c}: get: {}",
            String::from_utf8_lossy(&a.body)
        );
        assert_eq!(a.json()["id"], id.as_str());

        let a = http.get(&base).await;
        assert_eq!(
            a.status,
            200,
            "{c}: list: {}",
            String::from_utf8_lossy(&a.body)
        );
        assert!(
            a.json()["data"]
                .as_array()
                .is_some_and(|d| d.iter().any(|o| o["id"] == id.as_str())),
            "{c}: list lacks {id}"
        );

        let a = http.post_empty(&format!("{base}/{id}/confirm")).await;
        assert_eq!(
            a.status,
            200,
            "{c}: confirm: {}",
            String::from_utf8_lossy(&a.body)
        );
        assert_eq!(a.json()["status"], "confirmed", "{c}");

        let a = http.post_empty(&format!("{base}/{id}/cancel")).await;
        assert_eq!(
            a.status,
            200,
            "{c}: cancel: {}",
            String::from_utf8_lossy(&a.body)
        );
        assert_eq!(a.json()["status"], "cancelled", "{c}");
    }
}
