//! What the benchmarks (`make bench`, the `bench_*` binaries) share: where they ran, and how
//! each rewrites its own section of docs/benchmarks.md.
use std::path::Path;

use anyhow::{Context, bail};
use jiff::Timestamp;

/// Where the numbers were taken.
pub struct Machine {
    pub date: Timestamp,
    pub cpus: usize,
    pub cpu_model: String,
    pub memory: String,
    pub load: String,
}

impl Machine {
    pub fn read() -> Self {
        let file = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let field = |text: &str, name: &str| {
            text.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
                .unwrap_or_else(|| "unknown".into())
        };
        let memory = field(&file("/proc/meminfo"), "MemTotal")
            .trim_end_matches(" kB")
            .parse::<f64>()
            .map(|kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0))
            .unwrap_or_else(|_| "unknown".into());
        Self {
            date: Timestamp::now(),
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model: field(&file("/proc/cpuinfo"), "model name"),
            memory,
            load: file("/proc/loadavg")
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
        }
    }

    /// "Run 2026-12-01 07:00 UTC on 2 CPUs (…), 23.5 GiB RAM, load average at start …"
    pub fn describe(&self) -> String {
        format!(
            "Run {} on {} CPUs ({}), {} RAM, load average at start {}.",
            self.date.strftime("%Y-%m-%d %H:%M UTC"),
            self.cpus,
            self.cpu_model,
            self.memory,
            self.load
        )
    }
}

/// `12345` as `12,345`.
pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Replaces the section between `start_marker` and `end_marker` (the section includes them),
/// or appends it (creating the file if need be).
pub fn write_section(
    path: &Path,
    start_marker: &str,
    end_marker: &str,
    section: &str,
) -> anyhow::Result<()> {
    let current = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            "# Benchmarks\n\nSpeed and cost as ratios to the physical limit (LINE's rate limits) and \
             to a baseline measured in the same run, never as timed unit tests. `make bench` \
             (`infra/bench.sh`) reruns every section; each section says when and where it ran.\n"
                .to_owned()
        }
        Err(e) => return Err(e).context(format!("reading {}", path.display())),
    };
    let next = match (current.find(start_marker), current.find(end_marker)) {
        (Some(start), Some(end)) if end > start => format!(
            "{}{}{}",
            &current[..start],
            section.trim_end(),
            &current[end + end_marker.len()..]
        ),
        (None, None) => format!(
            "{}\n{}",
            current.trim_end_matches('\n').to_owned() + "\n",
            section
        ),
        _ => bail!(
            "{} has one {start_marker} marker without the other",
            path.display()
        ),
    };
    std::fs::write(path, next).with_context(|| format!("writing {}", path.display()))
}
