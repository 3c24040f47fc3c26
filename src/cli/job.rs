//! `mpirun -n P ganflow run ...`: this process's place in an MPI job. Built with the `mpi`
//! feature, a process started by an MPI launcher joins the job; built without it, it
//! refuses to run as one of several (every rank would write the same folder).

use std::process::ExitCode;

use super::AnyResult;

/// Environment variables by which MPI launchers (OpenMPI, MPICH/Hydra, PMIx) tell a process
/// it is one of a job's ranks, and how many there are.
const LAUNCHER_SIZE: [&str; 3] = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"];

/// The job this process belongs to: MPI's world when launched by `mpirun`, or this process
/// alone.
pub struct Job {
    #[cfg(feature = "mpi")]
    world: Option<(
        mpi::environment::Universe,
        std::rc::Rc<ganflow::dist::mpi::WorldRanks>,
    )>,
}

/// How many ranks the launcher says there are, if this process was started by one.
fn launched_size() -> Option<usize> {
    LAUNCHER_SIZE
        .iter()
        .find_map(|v| std::env::var(v).ok()?.parse().ok())
}

impl Job {
    /// Joins the MPI job this process was launched into, if any.
    pub fn join() -> AnyResult<Self> {
        let launched = launched_size().is_some_and(|n| n > 1);
        #[cfg(feature = "mpi")]
        {
            use ganflow::dist::Ranks;
            let world = if launched {
                let (universe, ranks) = ganflow::dist::mpi::WorldRanks::initialize()
                    .ok_or("MPI could not be initialised")?;
                let ranks = std::rc::Rc::new(ranks);
                ganflow::dist::install(ranks.clone() as std::rc::Rc<dyn Ranks>);
                Some((universe, ranks))
            } else {
                None
            };
            Ok(Self { world })
        }
        #[cfg(not(feature = "mpi"))]
        {
            if launched {
                return Err("this ganflow was built without MPI: build it with \
                            `cargo build --release --features mpi` to run under mpirun"
                    .into());
            }
            Ok(Self {})
        }
    }

    /// How many ranks (1 outside MPI).
    pub fn size(&self) -> usize {
        #[cfg(feature = "mpi")]
        if let Some((_, ranks)) = &self.world {
            return ganflow::dist::Ranks::size(ranks.as_ref());
        }
        1
    }

    /// This process's rank (0 outside MPI).
    pub fn rank(&self) -> usize {
        #[cfg(feature = "mpi")]
        if let Some((_, ranks)) = &self.world {
            return ganflow::dist::Ranks::rank(ranks.as_ref());
        }
        0
    }

    /// Ends a job with more than one rank when this one did not succeed, so that the others
    /// do not wait for it forever: an error is printed (with the rank) and every rank stops
    /// with this rank's status (1 for an error). A success, or a lone process, is handed
    /// back.
    pub fn settle(&self, result: AnyResult<ExitCode>) -> AnyResult<ExitCode> {
        if self.size() == 1 {
            return result;
        }
        let code = match result {
            Ok(code) if code == ExitCode::SUCCESS => return Ok(code),
            // An exit status is not readable back from an ExitCode but by comparison.
            Ok(code) => (1..=u8::MAX)
                .find(|&c| ExitCode::from(c) == code)
                .unwrap_or(1),
            Err(e) => {
                eprintln!("error (rank {} of {}): {e}", self.rank(), self.size());
                1
            }
        };
        self.abort(code)
    }

    fn abort(&self, code: u8) -> ! {
        #[cfg(feature = "mpi")]
        if let Some((_, ranks)) = &self.world {
            ranks.abort(i32::from(code));
        }
        std::process::exit(i32::from(code))
    }
}
