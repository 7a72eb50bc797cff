//! `n2n signal`: the signaling server (the same options as the standalone
//! `overlay-signaling` binary: [`ServerArgs`]).

use n2n_overlay::signaling::{ObserveRooms, ServerArgs, SignalingServer};

use crate::error::CliError;

/// Options of `n2n signal`.
#[derive(Debug, clap::Args)]
pub(crate) struct SignalArgs {
    #[command(flatten)]
    server: ServerArgs,
}

/// Bind, print `listening on ws://ADDR/` (`wss://` with TLS), serve until Ctrl-C.
pub(crate) async fn run(args: SignalArgs) -> Result<(), CliError> {
    let config = args.server.to_config()?;
    let (page, tls, observe) = (
        config.web.serve_page,
        config.tls.is_some(),
        config.web.observe.clone(),
    );
    let server = SignalingServer::bind(config).await?;
    println!("listening on {}", server.url());
    if page && !tls {
        println!(
            "browser page: http://{}/?room=lobby (room graph: {})",
            server.local_addr(),
            match &observe {
                ObserveRooms::All => "every room".to_owned(),
                ObserveRooms::Named(r) => r.join(", "),
                _ => "off; --observe-room NAME turns it on".to_owned(),
            }
        );
    }
    tokio::signal::ctrl_c().await.map_err(CliError::CtrlC)?;
    server.shutdown().await;
    println!("stopped");
    Ok(())
}
