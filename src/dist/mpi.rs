//! The ranks of an MPI job (the `mpi` feature: rsmpi over the system's MPI library).

use mpi::datatype::PartitionMut;
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::CommunicatorCollectives;

use super::Ranks;

/// The most values one rank sends in one gather (MPI counts are C ints).
const ROUND: usize = 1 << 30;

/// `MPI_COMM_WORLD`, after `MPI_Init`; dropping the [`Universe`](mpi::environment::Universe)
/// finalises MPI.
pub struct WorldRanks {
    world: SimpleCommunicator,
}

impl WorldRanks {
    /// Initialises MPI (once per process) and returns its world with the universe that must
    /// outlive it; `None` when MPI was initialised already.
    pub fn initialize() -> Option<(mpi::environment::Universe, Self)> {
        let universe = mpi::initialize()?;
        let world = universe.world();
        Some((universe, Self { world }))
    }

    /// Stops every rank of the job with `code` (after an error on one of them, so that the
    /// others do not wait for it forever).
    pub fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }
}

impl Ranks for WorldRanks {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn size(&self) -> usize {
        self.world.size() as usize
    }

    fn all_gather(&self, local: &[f64], counts: &[usize], all: &mut [f64]) {
        // MPI counts are C ints: shares past ROUND values go in several rounds.
        let rounds = counts.iter().map(|c| c.div_ceil(ROUND)).max().unwrap_or(0);
        let starts: Vec<usize> = counts
            .iter()
            .scan(0, |at, &c| {
                let start = *at;
                *at += c;
                Some(start)
            })
            .collect();
        let mut buffer = Vec::new();
        for round in 0..rounds {
            let piece = |c: usize| (round * ROUND).min(c)..((round + 1) * ROUND).min(c);
            let pieces: Vec<_> = counts.iter().map(|&c| piece(c)).collect();
            let sizes: Vec<i32> = pieces.iter().map(|p| p.len() as i32).collect();
            let displs: Vec<i32> = sizes
                .iter()
                .scan(0i32, |at, &c| {
                    let start = *at;
                    *at += c;
                    Some(start)
                })
                .collect();
            buffer.resize(pieces.iter().map(|p| p.len()).sum(), 0.0);
            let mine = &local[piece(local.len())];
            let mut partition = PartitionMut::new(&mut buffer[..], sizes, displs);
            self.world.all_gather_varcount_into(mine, &mut partition);
            let mut at = 0;
            for (p, start) in pieces.iter().zip(&starts) {
                all[start + p.start..start + p.end].copy_from_slice(&buffer[at..at + p.len()]);
                at += p.len();
            }
        }
    }
}
