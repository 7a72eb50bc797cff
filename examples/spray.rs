//! An overlay protocol on the public API: a random peer sampling shuffle in
//! the manner of Spray (the protocol n2n-overlay's JavaScript ancestors were
//! built for), on the in-memory network.
//!
//! ```sh
//! cargo run --example spray
//! ```
//!
//! Each peer keeps a partial view: its *outview*, the arcs it opened. In a
//! shuffle, peer `p` picks a random neighbour `q` of its outview and hands
//! `q` half of its arcs: for each arc `p -> r` in the sample, `p` bridges
//! `q` to `r` (`connect(q, r)`: the offer and answer travel through `p`,
//! then `q` and `r` talk directly) and removes its own arc to `r`. The arc
//! `p -> q` itself comes back reversed (`connect(q, None)`: `q` opens an
//! arc to `p`). No arc is created or lost, so the number of arcs stays what
//! the joins made, and the views mix: a chain of 32 peers, diameter 16,
//! becomes a random graph of diameter about 5 in 40 rounds.
//!
//! The same code runs on WebRTC: build the nodes on
//! `n2n_overlay::str0m::Str0mTransport` instead of a `MemoryNetwork`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::error::Error;

use n2n_overlay::{
    link_out_of_band, Keypair, MemoryNetwork, Node, NodeConfig, PeerId, ProtocolHandle, ProtocolId,
};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

const PEERS: usize = 32;
const ROUNDS: usize = 40;

/// One shuffle by `p`; returns how many arcs it handed over.
async fn shuffle(p: &ProtocolHandle, rng: &mut StdRng) -> Result<usize, Box<dyn Error>> {
    let outview = p.outview().await?;
    // One entry per arc (an arc can be there several times).
    let mut arcs: Vec<PeerId> = outview
        .iter()
        .flat_map(|(peer, n)| std::iter::repeat_n(*peer, *n as usize))
        .collect();
    let Some(&q) = arcs.choose(rng) else {
        return Ok(0); // nothing to shuffle yet
    };
    // The sample: one arc to q, and other arcs up to half of the view.
    if let Some(i) = arcs.iter().position(|r| *r == q) {
        arcs.swap_remove(i);
    }
    arcs.shuffle(rng);
    arcs.truncate(outview.values().sum::<u32>().div_ceil(2) as usize - 1);
    arcs.push(q);
    let mut handed = 0;
    for r in arcs {
        let moved = if r == q {
            p.connect(q, None).await // q -> p replaces p -> q
        } else {
            p.connect(q, r).await // q -> r replaces p -> r
        };
        match moved {
            Ok(()) => {
                p.disconnect(r).await?;
                handed += 1;
            }
            // Keep the arc: nothing is lost, the view just mixes less.
            Err(e) => eprintln!("shuffle: could not hand an arc over: {e}"),
        }
    }
    Ok(handed)
}

/// Arcs (with multiplicity), and the diameter of the overlay seen as an
/// undirected graph (`None` if it is not connected).
async fn measure(
    handles: &[ProtocolHandle],
    ids: &[PeerId],
) -> Result<(u32, Option<usize>), Box<dyn Error>> {
    let index: BTreeMap<PeerId, usize> = ids.iter().enumerate().map(|(i, p)| (*p, i)).collect();
    let mut adjacent = vec![BTreeSet::new(); ids.len()];
    let mut arcs = 0;
    for (x, h) in handles.iter().enumerate() {
        for (peer, n) in h.outview().await? {
            let y = index[&peer];
            adjacent[x].insert(y);
            adjacent[y].insert(x);
            arcs += n;
        }
    }
    let mut diameter = 0;
    for start in 0..ids.len() {
        let mut dist = vec![usize::MAX; ids.len()];
        dist[start] = 0;
        let mut queue = VecDeque::from([start]);
        while let Some(x) = queue.pop_front() {
            for &y in &adjacent[x] {
                if dist[y] == usize::MAX {
                    dist[y] = dist[x] + 1;
                    queue.push_back(y);
                }
            }
        }
        match dist.iter().max() {
            Some(&usize::MAX) | None => return Ok((arcs, None)),
            Some(&d) => diameter = diameter.max(d),
        }
    }
    Ok((arcs, Some(diameter)))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let net = MemoryNetwork::new();
    let proto = ProtocolId::new("spray")?;
    let mut rng = StdRng::seed_from_u64(7);
    let mut nodes = Vec::new();
    let mut handles = Vec::new();
    for _ in 0..PEERS {
        let node = Node::spawn(net.transport(), Keypair::generate(), NodeConfig::default());
        let (handle, mut events) = node.protocol(proto).await?;
        // A protocol reads its events (arcs opened and closed, messages);
        // this one needs none of them.
        tokio::spawn(async move { while events.recv().await.is_some() {} });
        nodes.push(node);
        handles.push(handle);
    }
    let ids: Vec<PeerId> = nodes.iter().map(Node::id).collect();

    // A chain: peer i joins peer i-1 out of band, then i-1 bridges i to
    // i-2, so that every peer has two arcs (the first ones fewer).
    for i in 1..PEERS {
        link_out_of_band(&handles[i], &nodes[i - 1]).await?;
        if i >= 2 {
            handles[i - 1].connect(ids[i], ids[i - 2]).await?;
        }
    }
    let (arcs, diameter) = measure(&handles, &ids).await?;
    println!("{PEERS} peers in a chain: {arcs} arcs, diameter {diameter:?}");

    for round in 1..=ROUNDS {
        let mut handed = 0;
        for h in &handles {
            handed += shuffle(h, &mut rng).await?;
        }
        let (now, diameter) = measure(&handles, &ids).await?;
        if round % 5 == 0 {
            println!("round {round}: {handed} arcs handed over; {now} arcs, diameter {diameter:?}");
        }
        if now != arcs {
            return Err(format!("a shuffle lost or made arcs: {arcs} before, {now} now").into());
        }
        if diameter.is_none() {
            return Err("the overlay fell apart".into());
        }
    }
    for node in &nodes {
        node.shutdown().await;
    }
    Ok(())
}
