//! The measures of the paper on a snapshot of the overlay: view sizes,
//! in-degrees, clustering, shortest paths, components.

use std::collections::VecDeque;

use rand::seq::index;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A directed multigraph: `out[i]` lists the arcs of peer `i` (a peer
/// appears once per arc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph {
    out: Vec<Vec<u32>>,
    /// Distinct out-neighbours, sorted.
    distinct: Vec<Vec<u32>>,
}

/// Mean, smallest and largest of a sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// The mean.
    pub mean: f64,
    /// The smallest value.
    pub min: usize,
    /// The largest value.
    pub max: usize,
    /// The standard deviation.
    pub std_dev: f64,
}

impl Summary {
    /// Summarize `values` (zeros for an empty sample).
    pub fn of(values: &[usize]) -> Self {
        if values.is_empty() {
            return Summary {
                mean: 0.0,
                min: 0,
                max: 0,
                std_dev: 0.0,
            };
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<usize>() as f64 / n;
        let var = values
            .iter()
            .map(|v| (*v as f64 - mean).powi(2))
            .sum::<f64>()
            / n;
        Summary {
            mean,
            min: values.iter().copied().min().unwrap_or(0),
            max: values.iter().copied().max().unwrap_or(0),
            std_dev: var.sqrt(),
        }
    }
}

impl Graph {
    /// A graph from each peer's arcs (indices into the same list). Arcs
    /// pointing outside the list are dropped.
    pub fn new(mut out: Vec<Vec<u32>>) -> Self {
        let n = out.len() as u32;
        for arcs in &mut out {
            arcs.retain(|j| *j < n);
        }
        let distinct = out
            .iter()
            .map(|a| {
                let mut d = a.clone();
                d.sort_unstable();
                d.dedup();
                d
            })
            .collect();
        Graph { out, distinct }
    }

    /// Peers.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// Whether there is no peer.
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// Arcs, with multiplicity.
    pub fn arcs(&self) -> usize {
        self.out.iter().map(Vec::len).sum()
    }

    /// Each peer's view size (outview, with multiplicity).
    pub fn view_sizes(&self) -> Vec<usize> {
        self.out.iter().map(Vec::len).collect()
    }

    /// Each peer's in-degree (with multiplicity).
    pub fn in_degrees(&self) -> Vec<usize> {
        let mut d = vec![0; self.out.len()];
        for arcs in &self.out {
            for j in arcs {
                d[*j as usize] += 1;
            }
        }
        d
    }

    /// The histogram of `values`: `h[v]` = how many have value `v`.
    pub fn histogram(values: &[usize]) -> Vec<usize> {
        let max = values.iter().copied().max().unwrap_or(0);
        let mut h = vec![0; max + 1];
        for v in values {
            h[*v] += 1;
        }
        h
    }

    /// The mean local clustering coefficient, directed (as PeerSim and the
    /// paper): for a peer with `k` distinct out-neighbours, the arcs among
    /// them over `k (k − 1)`; peers with `k < 2` count as 0.
    pub fn clustering(&self) -> f64 {
        if self.out.is_empty() {
            return 0.0;
        }
        let mut sum = 0.0;
        for nbrs in &self.distinct {
            let k = nbrs.len();
            if k < 2 {
                continue;
            }
            let mut links = 0usize;
            for &j in nbrs {
                for t in &self.distinct[j as usize] {
                    if *t != j && nbrs.binary_search(t).is_ok() {
                        links += 1;
                    }
                }
            }
            sum += links as f64 / (k * (k - 1)) as f64;
        }
        sum / self.out.len() as f64
    }

    /// The mean length of the shortest directed path between two peers,
    /// over the pairs that are connected, from `sources` BFS roots drawn at
    /// random (all peers if `sources >= len`); and the fraction of pairs
    /// that were reachable.
    pub fn mean_shortest_path(&self, sources: usize, seed: u64) -> (f64, f64) {
        let n = self.out.len();
        if n < 2 {
            return (0.0, 1.0);
        }
        let roots: Vec<usize> = if sources >= n {
            (0..n).collect()
        } else {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            index::sample(&mut rng, n, sources).into_vec()
        };
        let mut dist = vec![u32::MAX; n];
        let mut queue = VecDeque::new();
        let (mut total, mut pairs, mut tried) = (0u64, 0u64, 0u64);
        for r in roots {
            dist.iter_mut().for_each(|d| *d = u32::MAX);
            dist[r] = 0;
            queue.push_back(r);
            while let Some(u) = queue.pop_front() {
                for &v in &self.distinct[u] {
                    let v = v as usize;
                    if dist[v] == u32::MAX {
                        dist[v] = dist[u] + 1;
                        total += u64::from(dist[v]);
                        pairs += 1;
                        queue.push_back(v);
                    }
                }
            }
            tried += (n - 1) as u64;
        }
        let mean = if pairs == 0 {
            0.0
        } else {
            total as f64 / pairs as f64
        };
        (mean, pairs as f64 / tried as f64)
    }

    /// Weakly connected components (arcs taken both ways).
    pub fn components(&self) -> usize {
        let n = self.out.len();
        let mut parent: Vec<u32> = (0..n as u32).collect();
        fn find(p: &mut [u32], mut x: u32) -> u32 {
            while p[x as usize] != x {
                p[x as usize] = p[p[x as usize] as usize];
                x = p[x as usize];
            }
            x
        }
        for (i, arcs) in self.distinct.iter().enumerate() {
            for &j in arcs {
                let (a, b) = (find(&mut parent, i as u32), find(&mut parent, j));
                if a != b {
                    parent[a as usize] = b;
                }
            }
        }
        (0..n as u32).filter(|&i| find(&mut parent, i) == i).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triangle_and_a_loner() {
        // 0 -> 1, 0 -> 2, 1 -> 2, 2 -> 0 (twice); 3 alone.
        let g = Graph::new(vec![vec![1, 2], vec![2], vec![0, 0], vec![]]);
        assert_eq!(g.arcs(), 5);
        assert_eq!(g.view_sizes(), vec![2, 1, 2, 0]);
        assert_eq!(g.in_degrees(), vec![2, 1, 2, 0]);
        assert_eq!(g.components(), 2);
        // Peer 0: out {1, 2}, arcs among them: 1 -> 2 only => 1 / 2.
        assert!((g.clustering() - 0.5 / 4.0).abs() < 1e-12);
        // From 0: 1 (1), 2 (1); from 1: 2 (1), 0 (2); from 2: 0 (1), 1 (2).
        let (mean, reach) = g.mean_shortest_path(3, 1);
        assert!(reach < 1.0); // 3 is unreachable, and the sample is random
        assert!(mean >= 1.0);
        let (all, reach_all) = g.mean_shortest_path(10, 1);
        assert!((all - 8.0 / 6.0).abs() < 1e-12, "{all}");
        assert!((reach_all - 6.0 / 12.0).abs() < 1e-12);
    }

    #[test]
    fn histogram_and_summary() {
        assert_eq!(Graph::histogram(&[0, 2, 2, 3]), vec![1, 0, 2, 1]);
        let s = Summary::of(&[1, 3]);
        assert_eq!((s.mean, s.min, s.max, s.std_dev), (2.0, 1, 3, 1.0));
    }
}
