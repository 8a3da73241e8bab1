//! Facts about this machine and its processes: the monotonic clock every process stamps with,
//! the open-files limit, a process's CPU, memory and descriptors from /proc, the CPU and kernel,
//! and what a filesystem makes an fsync cost.

use anyhow::Result;
use serde_json::{json, Value};

use crate::histogram::Hist;

/// CLOCK_MONOTONIC in nanoseconds: the same clock in every process of the machine.
pub fn mono_ns() -> u64 {
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
    }
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: a valid pointer to a timespec; CLOCK_MONOTONIC (1) always exists on Linux.
    unsafe { clock_gettime(1, &mut ts) };
    ts.sec as u64 * 1_000_000_000 + ts.nsec as u64
}

/// Raise the soft open-files limit to the hard one (children inherit it).
pub fn raise_nofile() -> u64 {
    #[repr(C)]
    struct Rlimit {
        cur: u64,
        max: u64,
    }
    extern "C" {
        fn getrlimit(resource: i32, rlim: *mut Rlimit) -> i32;
        fn setrlimit(resource: i32, rlim: *const Rlimit) -> i32;
    }
    const RLIMIT_NOFILE: i32 = 7;
    let mut l = Rlimit { cur: 0, max: 0 };
    // SAFETY: valid pointers to an rlimit struct laid out as the kernel's.
    unsafe {
        if getrlimit(RLIMIT_NOFILE, &mut l) == 0 && l.cur < l.max {
            l.cur = l.max;
            setrlimit(RLIMIT_NOFILE, &l);
        }
    }
    l.cur
}

#[derive(Debug, Clone, Copy, Default)]
pub struct ProcSample {
    pub ticks: u64,
    pub rss_kib: u64,
    /// Open file descriptors (sockets, database files, …).
    pub fds: u64,
    pub at_ns: u64,
}

pub fn proc_sample(pid: u32) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64);
    Some(ProcSample {
        ticks,
        rss_kib,
        fds,
        at_ns: mono_ns(),
    })
}

/// CPU use between two samples in percent of one core (the kernel counts 100 ticks a second).
fn cpu_pct(a: ProcSample, b: ProcSample) -> f64 {
    let secs = (b.at_ns.saturating_sub(a.at_ns)) as f64 / 1e9;
    if secs <= 0.0 {
        return 0.0;
    }
    (b.ticks.saturating_sub(a.ticks)) as f64 / 100.0 / secs * 100.0
}

/// CPU seconds (user + system) the processes used between two samples, summed; `None` when no
/// process could be sampled both times.
pub fn cpu_seconds(a: &[Option<ProcSample>], b: &[Option<ProcSample>]) -> Option<f64> {
    let ticks: Vec<u64> = a
        .iter()
        .zip(b)
        .filter_map(|(x, y)| Some(y.as_ref()?.ticks.saturating_sub(x.as_ref()?.ticks)))
        .collect();
    (!ticks.is_empty()).then(|| ticks.iter().sum::<u64>() as f64 / 100.0)
}

/// What the whole machine and the processes named `name` have spent on CPU so far, in ticks
/// (100 a second): the database a step writes to runs as processes of its own, one per
/// connection on Postgres, and the load generator shares the machine, so a step's cost is
/// more than the server's.
#[derive(Clone, Copy)]
pub struct CpuSample {
    machine: u64,
    named: u64,
    at_ns: u64,
}

pub fn cpu_sample(name: &str) -> CpuSample {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    // user nice system idle iowait irq softirq steal: busy is all but idle, iowait and the
    // time the hypervisor gave to another machine.
    let machine = stat
        .lines()
        .next()
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .take(8)
                .enumerate()
                .filter(|(i, _)| ![3, 4, 7].contains(i))
                .filter_map(|(_, v)| v.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    let mut named = 0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if &stat[open + 1..close] != name {
            continue;
        }
        let f: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        named += [11, 12]
            .iter()
            .filter_map(|i| f.get(*i)?.parse::<u64>().ok())
            .sum::<u64>();
    }
    CpuSample {
        machine,
        named,
        at_ns: mono_ns(),
    }
}

/// Between two samples, in percent of one core: the whole machine's CPU and the named
/// processes' (a process that ended in between takes its ticks with it).
pub fn cpu_between(a: CpuSample, b: CpuSample) -> Value {
    let secs = (b.at_ns.saturating_sub(a.at_ns)) as f64 / 1e9;
    let pct = |ticks: u64| ((ticks as f64 / secs) * 10.0).round() / 10.0;
    json!({
        "machine_cpu_pct": pct(b.machine.saturating_sub(a.machine)),
        "database_cpu_pct": pct(b.named.saturating_sub(a.named)),
    })
}

/// The machine's load average over the last minute (other work on the machine skews a run).
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

pub fn sum_cpu(a: &[Option<ProcSample>], b: &[Option<ProcSample>]) -> Option<f64> {
    let mut total = 0.0;
    let mut any = false;
    for (x, y) in a.iter().zip(b) {
        if let (Some(x), Some(y)) = (x, y) {
            total += cpu_pct(*x, *y);
            any = true;
        }
    }
    any.then_some((total * 10.0).round() / 10.0)
}

pub fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("?")
        .trim()
        .to_string();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: u64 = meminfo
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    json!({
        "nproc": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu": model,
        "memory_gib": (mem_kib as f64 / 1048576.0 * 10.0).round() / 10.0,
        "kernel": kernel.trim(),
    })
}

/// The filesystem and device a path is on (from /proc/self/mounts): fsync costs what they make
/// it cost, and nothing at all on tmpfs.
pub fn fs_of(path: &std::path::Path) -> Value {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3 && path.starts_with(f[1])).then(|| (f[1].len(), f[0], f[1], f[2]))
        })
        .max_by_key(|m| m.0)
        .map_or(Value::Null, |(_, dev, at, fs)| {
            json!({ "path": path.display().to_string(), "mount": at, "device": dev, "type": fs })
        })
}

/// Latency of a 4 KiB write plus `fdatasync` in `dir`, 200 times, into a file already written
/// and synced (as SQLite reuses its WAL): what one commit with `synchronous = FULL` waits for at
/// least, on this disk at this moment.
pub fn fsync_probe(dir: &std::path::Path) -> Result<Value> {
    use std::io::{Seek, SeekFrom, Write};
    const BLOCKS: u64 = 200;
    let path = dir.join(format!(
        "baton-bench-fsync-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let mut file = std::fs::File::create(&path)?;
    let block = [7u8; 4096];
    for _ in 0..BLOCKS {
        file.write_all(&block)?;
    }
    file.sync_all()?;
    let mut hist = Hist::default();
    for i in 0..BLOCKS {
        let t = mono_ns();
        file.seek(SeekFrom::Start(i * 4096))?;
        file.write_all(&block)?;
        file.sync_data()?;
        hist.add((mono_ns() - t) / 1000);
    }
    drop(file);
    std::fs::remove_file(&path)?;
    Ok(hist.summary())
}
