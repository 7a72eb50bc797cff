//! The core's transport conformance suite over str0m, real UDP on 127.0.0.1.
//! One test per case, so a failure names its case; the cases take turns
//! (one at a time) so that real-time timeouts do not depend on how many
//! other cases share the two cores.

use overlay_core::testkit;
use rtc_common::RtcConfig;
use transport_str0m::Str0mTransport;

async fn make() -> Str0mTransport {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
    match Str0mTransport::bind(&RtcConfig::loopback()) {
        Ok(t) => t,
        Err(e) => panic!("cannot bind a str0m transport on 127.0.0.1: {e}"),
    }
}

static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

macro_rules! case {
    ($name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() -> Result<(), testkit::ConformanceError> {
            let _turn = TURN.lock().await;
            let took = testkit::$name(make).await?;
            println!(
                "{} ok in {:.1} ms",
                stringify!($name),
                took.as_secs_f64() * 1e3
            );
            Ok(())
        }
    };
}

case!(direct_connect);
case!(bridged_connect);
case!(batch_duplicates);
case!(messages_in_order);
case!(close_seen_by_both);
case!(pending_timeout);
case!(dying_revive);
case!(concurrent_handshakes);
