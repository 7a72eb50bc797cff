//! The conformance suite over the in-memory reference transport.

use overlay_core::{testkit, MemoryNetwork};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_transport_passes_the_conformance_suite() -> Result<(), testkit::ConformanceError> {
    let net = MemoryNetwork::new();
    let report = testkit::run_all(|| {
        let net = net.clone();
        async move { net.transport() }
    })
    .await?;
    println!("{report}");
    assert_eq!(report.cases.len(), 14);
    Ok(())
}
