//! The benchmark of issue 8: what a vif event costs, ours beside Xen's original scripts, on a
//! namespace host with the compiled xenstore stand-in (so the ratio measures the scripts).
//!
//! ```text
//! xennet-bench [--originals DIR] [--runs N] [--vifs N] [--callers N] [--json FILE]
//!              [--firewall iptables|nftables|none]… [--xenstore wire|clients]
//! ```
//!
//! Each of our firewall backends (all three unless `--firewall` names some) is a side of its
//! own, beside the originals (whose rules are iptables'). Besides the per-call table and the
//! 1000-vif run, a curve: the cost of one more vif's online and offline with 10, 100, 500 and
//! 1000 vifs present, and a breakdown of one such event into the commands it ran (from the
//! scripts' own `exec: … took` log lines).
//!
//! `--xenstore wire` (the default) gives each host the stand-in xenstored, as a Xen host runs
//! xenstored: our scripts talk to it over its socket, the originals through the `xenstore-*`
//! stand-ins on the same store. `--xenstore clients` leaves it out: ours use the clients too.
//!
//! `--originals DIR` is a directory of runnable original scripts, as
//! `scripts-compat/fetch-originals.sh OUT` makes in `OUT/upstream`. Timings are taken inside dom0
//! by a worker (this binary re-run under `ip netns exec`), so namespace entry is not counted.
//! Process counts come from `strace -f` of one extra call; peak RSS from `wait4` of each call
//! (the script and the children it waited for).

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use xennet_tests::host::{Host, HostBuilder};
use xennet_tests::{cmd, snapshot};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--worker") {
        return worker();
    }
    let opts = Opts::parse(&args)?;
    if !nix::unistd::geteuid().is_root() {
        bail!("xennet-bench builds namespace hosts: run it as root");
    }
    let mut report = Report::default();
    println!(
        "xenstore: {}",
        if opts.xenstored {
            "the stand-in xenstored (ours over its socket, the originals through the clients)"
        } else {
            "the xenstore-* stand-in clients"
        }
    );
    let sides = opts.sides()?;
    for script in ["vif-bridge", "vif-nat", "vif-route"] {
        for with_ip in [false, true] {
            for side in &sides {
                let row = per_call(&opts, side, script, with_ip)?;
                report.print_row(&row);
                report.per_call.push(row);
            }
        }
    }
    for side in &sides {
        let row = scale(&opts, side)?;
        report.print_scale(&row);
        report.scale.push(row);
    }
    let nb = network_bridge(&opts)?;
    println!(
        "\nnetwork-bridge start+stop (ours): median {:.1} ms over {} runs",
        nb["median_ms"].as_f64().unwrap_or(0.0),
        nb["runs"]
    );
    report.network_bridge = nb;
    report.finish(&opts)
}

// ---------------------------------------------------------------------------------------------
// Options and the two sides

struct Opts {
    originals: Option<PathBuf>,
    runs: usize,
    vifs: usize,
    callers: usize,
    json: PathBuf,
    bin_dir: PathBuf,
    /// The compiled xenstore stand-in, beside this benchmark.
    xenstore_fake: PathBuf,
    /// Our backends to measure.
    firewalls: Vec<&'static str>,
    /// Hosts run the stand-in xenstored (`--xenstore wire`).
    xenstored: bool,
}

impl Opts {
    fn parse(args: &[String]) -> Result<Opts> {
        let exe = std::env::current_exe()?;
        let mut o = Opts {
            originals: None,
            runs: 30,
            vifs: 1000,
            callers: 16,
            json: PathBuf::from("bench.json"),
            bin_dir: xennet_tests::host::aliases_of(&exe.with_file_name("xen-netscripts")),
            xenstore_fake: exe.with_file_name("xenstore-fake"),
            firewalls: Vec::new(),
            xenstored: true,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut val = || it.next().with_context(|| format!("{a} needs a value"));
            match a.as_str() {
                "--originals" => o.originals = Some(PathBuf::from(val()?)),
                "--runs" => o.runs = val()?.parse()?,
                "--vifs" => o.vifs = val()?.parse()?,
                "--callers" => o.callers = val()?.parse()?,
                "--json" => o.json = PathBuf::from(val()?),
                "--bin-dir" => o.bin_dir = PathBuf::from(val()?),
                "--firewall" => {
                    let v = val()?;
                    let Some(fw) = ["iptables", "nftables", "none"]
                        .into_iter()
                        .find(|f| f == v)
                    else {
                        bail!("--firewall {v:?}: use iptables, nftables or none");
                    };
                    o.firewalls.push(fw);
                }
                "--xenstore" => {
                    o.xenstored = match val()?.as_str() {
                        "wire" => true,
                        "clients" => false,
                        other => bail!("--xenstore {other:?}: use wire or clients"),
                    }
                }
                other => bail!(
                    "unknown argument {other:?}: use --originals DIR, --runs N, --vifs N, \
                     --callers N, --json FILE, --bin-dir DIR, --firewall BACKEND, \
                     --xenstore wire|clients"
                ),
            }
        }
        if o.firewalls.is_empty() {
            o.firewalls = vec!["iptables", "nftables", "none"];
        }
        if o.vifs % 4 != 0 || o.vifs == 0 {
            bail!(
                "--vifs {} must be a positive multiple of 4 (guests × 4)",
                o.vifs
            );
        }
        Ok(o)
    }

    fn sides(&self) -> Result<Vec<Side>> {
        let mut v: Vec<Side> = self
            .firewalls
            .iter()
            .map(|fw| Side {
                name: format!("ours/{fw}"),
                dir: self.bin_dir.clone(),
                firewall: Some(fw),
            })
            .collect();
        if let Some(d) = &self.originals {
            if !d.join("vif-bridge").exists() {
                bail!(
                    "{} holds no vif-bridge: make it with scripts-compat/fetch-originals.sh OUT \
                     and pass OUT/upstream",
                    d.display()
                );
            }
            v.push(Side {
                name: "original".into(),
                dir: d.canonicalize()?,
                firewall: None,
            });
        }
        Ok(v)
    }

    fn host(&self, name: &str) -> Result<Host> {
        let mut b = HostBuilder::new(name, &self.xenstore_fake);
        if self.xenstored {
            b = b.xenstored();
        }
        let mut h = b.build().context("not root")?;
        h.bin_dir = self.bin_dir.clone();
        Ok(h)
    }
}

struct Side {
    /// `ours/<backend>` or `original`.
    name: String,
    dir: PathBuf,
    /// Our `firewall=` (None: the originals, whose rules are iptables').
    firewall: Option<&'static str>,
}

// ---------------------------------------------------------------------------------------------
// The worker: runs calls inside dom0 and times them

/// One call for the worker: argv and the whole environment.
fn call_json(argv: &[String], env: &[(String, String)]) -> Value {
    json!({ "argv": argv, "env": env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>() })
}

/// Runs `calls` in dom0 of `h`, `parallel` at a time, and returns per-call results
/// (`ms`, `status`, `maxrss_kb`, `stderr`), in call order.
fn run_in_dom0(h: &Host, calls: Vec<Value>, parallel: usize) -> Result<Vec<Value>> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new("ip")
        .args(["netns", "exec", &h.dom0])
        .arg(exe)
        .arg("--worker")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let input = json!({ "parallel": parallel, "calls": calls }).to_string();
    child.stdin.take().unwrap().write_all(input.as_bytes())?;
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out)?;
    if !child.wait()?.success() {
        bail!("the bench worker failed in {}", h.dom0);
    }
    let v: Value = serde_json::from_str(&out).context("worker output")?;
    Ok(v.as_array().cloned().unwrap_or_default())
}

fn worker() -> Result<()> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    let spec: Value = serde_json::from_str(&input)?;
    let calls: Vec<Value> = spec["calls"].as_array().cloned().unwrap_or_default();
    let parallel = spec["parallel"].as_u64().unwrap_or(1).max(1) as usize;
    let results = Arc::new(Mutex::new(vec![Value::Null; calls.len()]));
    let next = Arc::new(Mutex::new(0usize));
    let calls = Arc::new(calls);
    let mut threads = Vec::new();
    for _ in 0..parallel {
        let (results, next, calls) = (results.clone(), next.clone(), calls.clone());
        threads.push(std::thread::spawn(move || loop {
            let i = {
                let mut n = next.lock().unwrap();
                let i = *n;
                *n += 1;
                i
            };
            let Some(c) = calls.get(i) else { break };
            let r = timed_call(c);
            results.lock().unwrap()[i] = r;
        }));
    }
    for t in threads {
        t.join().expect("worker thread");
    }
    let results = results.lock().unwrap();
    println!("{}", Value::Array(results.clone()));
    Ok(())
}

/// Spawns one call, waits with `wait4` for its rusage, and times it.
fn timed_call(c: &Value) -> Value {
    let strs = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let argv = strs(&c["argv"]);
    let env = strs(&c["env"]);
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]).env_clear();
    for kv in &env {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return json!({ "ms": 0.0, "status": -1, "maxrss_kb": 0, "stderr": e.to_string() })
        }
    };
    let mut stderr = String::new();
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut stderr);
    }
    let mut status: libc::c_int = 0;
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child; status and ru are valid out-pointers.
    let rc = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut ru) };
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    let code = if rc < 0 {
        -1
    } else if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    json!({ "ms": ms, "status": code, "maxrss_kb": ru.ru_maxrss, "stderr": stderr })
}

// ---------------------------------------------------------------------------------------------
// Phase 1: per-call cost

/// The host a script needs, with guest 1's vif `vif1.0` and its backend keys.
fn prepare(opts: &Opts, script: &str, with_ip: bool) -> Result<Host> {
    let mut h = opts.host(&format!("bench-{}", &script[4..]))?;
    let ip = if script == "vif-nat" {
        "10.0.0.1"
    } else {
        "192.0.2.51"
    };
    let mut extra: Vec<(&str, &str)> = vec![("script", "")];
    if with_ip {
        extra.push(("ip", ip));
    }
    match script {
        "vif-bridge" => h.make_admin_bridge("xenbr0"),
        _ => extra.push(("bridge", "")),
    }
    let script_key = format!("/etc/xen/scripts/{script}");
    extra[0].1 = &script_key;
    h.add_guest(1, 0);
    h.xs_write_backend(1, 0, &extra);
    // A resident guest 2, online through every round, as on a host that has guests (so that
    // no round pays for making a firewall's table, or for deleting it, alone).
    let ip2 = if script == "vif-nat" {
        "10.0.0.2"
    } else {
        "192.0.2.52"
    };
    for e in extra.iter_mut().filter(|e| e.0 == "ip") {
        e.1 = ip2;
    }
    h.add_guest(2, 0);
    h.xs_write_backend(2, 0, &extra);
    Ok(h)
}

/// libxl's environment for vif 1.0 and `side`'s script.
fn libxl_call(
    h: &Host,
    side: &Side,
    script: &str,
    domid: u32,
    devid: u32,
) -> Vec<(String, String)> {
    let mut env = h.base_env();
    let vif = format!("vif{domid}.{devid}");
    for (k, v) in [
        ("script", format!("/etc/xen/scripts/{script}")),
        ("XENBUS_TYPE", "vif".into()),
        ("XENBUS_PATH", format!("backend/vif/{domid}/{devid}")),
        ("XENBUS_BASE_PATH", "backend".into()),
        (
            "netdev",
            if script == "vif-bridge" {
                String::new()
            } else {
                h.nic.clone()
            },
        ),
        ("vif", vif),
        ("dhcp", "no".into()),
        // The originals' first PATH entry (fetch-originals.sh); ours ignore it.
        ("XENNET_COMPAT_BINDIR", h.fake_bin.display().to_string()),
    ] {
        env.push((k.to_string(), v));
    }
    match side.firewall {
        Some(fw) => env.push(("firewall".into(), fw.into())),
        // The originals run under bash from /usr/bin; ours need nothing else.
        None => env.retain(|(k, _)| k != "XENNET_LOG"),
    }
    env
}

fn argv(side: &Side, script: &str, word: &str) -> Vec<String> {
    vec![
        side.dir.join(script).display().to_string(),
        word.to_string(),
    ]
}

fn per_call(opts: &Opts, side: &Side, script: &str, with_ip: bool) -> Result<Value> {
    let h = prepare(opts, script, with_ip)?;
    let env = libxl_call(&h, side, script, 1, 0);
    // Each round is a guest's NIC life as netback makes it: a fresh, down vif1.0, online,
    // offline, then the vif is destroyed (so the originals, which leave its addresses to the
    // vif's destruction, start clean too). Only online and offline are timed.
    let fresh = |a: &[&str]| call_json(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>(), &env);
    let status = format!("{}/hotplug-status", h.backend_path(1, 0));
    let mut calls = vec![call_json(
        &argv(side, script, "online"),
        &libxl_call(&h, side, script, 2, 0),
    )];
    let mut timed = Vec::new();
    for _ in 0..opts.runs {
        calls.push(fresh(&["ip", "link", "del", "vif1.0"]));
        calls.push(fresh(&[
            "ip", "link", "add", "vif1.0", "type", "veth", "peer", "name", "g1.0",
        ]));
        calls.push(fresh(&["xenstore-write", &status, ""]));
        timed.push((calls.len(), "online"));
        calls.push(call_json(&argv(side, script, "online"), &env));
        timed.push((calls.len(), "offline"));
        calls.push(call_json(&argv(side, script, "offline"), &env));
    }
    let res = run_in_dom0(&h, calls, 1)?;
    for (i, _) in &timed {
        let r = &res[*i];
        if r["status"].as_i64() != Some(0) {
            bail!(
                "{} {script} call {i} failed ({}): {}\nhotplug log:\n{}",
                side.name,
                r["status"],
                r["stderr"].as_str().unwrap_or(""),
                h.hotplug_log()
            );
        }
    }
    let pick = |word: &str| -> Vec<f64> {
        timed
            .iter()
            .filter(|(_, w)| *w == word)
            .filter_map(|(i, _)| res[*i]["ms"].as_f64())
            .collect()
    };
    let rss = timed
        .iter()
        .filter_map(|(i, _)| res[*i]["maxrss_kb"].as_i64())
        .max()
        .unwrap_or(0);
    run_in_dom0(
        &h,
        vec![
            fresh(&["ip", "link", "del", "vif1.0"]),
            fresh(&[
                "ip", "link", "add", "vif1.0", "type", "veth", "peer", "name", "g1.0",
            ]),
            fresh(&["xenstore-write", &status, ""]),
        ],
        1,
    )?;
    let procs_online = count_processes(&h, side, script, "online", &env)?;
    let procs_offline = count_processes(&h, side, script, "offline", &env)?;
    Ok(json!({
        "script": script,
        "ip": with_ip,
        "side": side.name,
        "runs": opts.runs,
        "online": stats(pick("online")),
        "offline": stats(pick("offline")),
        "processes_online": procs_online,
        "processes_offline": procs_offline,
        "peak_rss_kb": rss,
    }))
}

/// The processes one call starts (every pid in an `strace -f` of it but the script's own).
fn count_processes(
    h: &Host,
    side: &Side,
    script: &str,
    word: &str,
    env: &[(String, String)],
) -> Result<usize> {
    let trace = h.scratch.join(format!(
        "strace-{}-{script}-{word}",
        side.name.replace('/', "-")
    ));
    let mut a = vec![
        "strace".to_string(),
        "-f".into(),
        "-qq".into(),
        "-e".into(),
        "trace=execve".into(),
        "-ttt".into(),
        "-o".into(),
        trace.display().to_string(),
    ];
    a.extend(argv(side, script, word));
    let r = run_in_dom0(h, vec![call_json(&a, env)], 1)?;
    if r[0]["status"].as_i64() != Some(0) {
        bail!("strace of {script} {word} failed: {}", r[0]["stderr"]);
    }
    let text = std::fs::read_to_string(&trace)?;
    if let Some(dir) = std::env::var_os("XENNET_BENCH_TRACES") {
        // For a look at what a call runs: the strace of each counted call.
        std::fs::write(Path::new(&dir).join(trace.file_name().unwrap()), &text)?;
    }
    let pids: std::collections::BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    Ok(pids.len().saturating_sub(1))
}

fn stats(mut v: Vec<f64>) -> Value {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if v.is_empty() {
        return json!({});
    }
    let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    json!({ "median_ms": q(0.5), "p10_ms": q(0.1), "p90_ms": q(0.9), "min_ms": v[0], "max_ms": v[v.len() - 1] })
}

// ---------------------------------------------------------------------------------------------
// Phase 2: 1000 vifs, 16 callers, and the cost of one event as the host fills up

/// The host sizes at which one more vif's online and offline are timed.
const CURVE: [usize; 4] = [10, 100, 500, 1000];
/// Timed events per curve point.
const CURVE_RUNS: usize = 40;

/// What `side`'s firewall holds for the vifs: (vifs with exactly their rules or elements,
/// how many rules or elements there are in all).
fn firewall_state(
    h: &Host,
    side: &Side,
    vifs: &[(u32, u32, String)],
    addr: &dyn Fn(u32, u32) -> String,
) -> (usize, usize) {
    match side.firewall {
        Some("nftables") => {
            let text = cmd::ns_exec(
                &h.dom0,
                &["nft", "list", "table", "bridge", "xen_netscripts"],
            )
            .stdout
            .clone();
            // nft names each live vif's index by the device's name, one element per line.
            let elements: Vec<&str> = text
                .split([',', '{', '}', '\n'])
                .map(str::trim)
                .filter(|e| e.starts_with('"'))
                .collect();
            let exact = vifs
                .iter()
                .filter(|(d, n, v)| {
                    let verdict = format!("\"{v}\" : jump vif_open");
                    let ip = format!("\"{v}\" . {} counter", addr(*d, *n));
                    elements.iter().filter(|e| **e == verdict).count() == 1
                        && elements.iter().filter(|e| e.starts_with(&ip)).count() == 1
                })
                .count();
            (exact, elements.len())
        }
        Some("none") => (vifs.len(), h.forward_rules().len()),
        _ => {
            let rules = h.forward_rules();
            let mut count: BTreeMap<&str, usize> = BTreeMap::new();
            for r in &rules {
                *count.entry(r.as_str()).or_default() += 1;
            }
            let exact = vifs
                .iter()
                .filter(|(d, n, v)| {
                    let want_in = format!(
                        "-A FORWARD -s {}/32 -m physdev --physdev-in {v} --physdev-is-bridged -j ACCEPT",
                        addr(*d, *n)
                    );
                    let want_out = format!(
                        "-A FORWARD -m physdev --physdev-out {v} --physdev-is-bridged -j ACCEPT"
                    );
                    count.get(want_in.as_str()) == Some(&1) && count.get(want_out.as_str()) == Some(&1)
                })
                .count();
            (exact, rules.len())
        }
    }
}

/// Where one `-v` call's time went: each command's `exec: PROG took X ms` line, summed per
/// program, and the rest (our own process: start, planning, xenstore, locks).
fn breakdown(stderr: &str, total_ms: f64) -> Value {
    let mut per: BTreeMap<String, (usize, f64)> = BTreeMap::new();
    for l in stderr.lines() {
        let Some(rest) = l.split("exec: ").nth(1) else {
            continue;
        };
        let Some((prog, ms)) = rest.split_once(" took ") else {
            continue;
        };
        let ms: f64 = ms.trim_end_matches(" ms").parse().unwrap_or(0.0);
        let e = per.entry(prog.to_string()).or_default();
        e.0 += 1;
        e.1 += ms;
    }
    let children: f64 = per.values().map(|v| v.1).sum();
    let mut out = serde_json::Map::new();
    for (prog, (n, ms)) in per {
        out.insert(prog, json!({ "runs": n, "ms": ms }));
    }
    json!({ "total_ms": total_ms, "commands": out, "own_ms": total_ms - children })
}

fn scale(opts: &Opts, side: &Side) -> Result<Value> {
    let h = opts.host("bench-scale")?;
    h.make_admin_bridge("xenbr0");
    let guests = opts.vifs / 4;
    // The backends: veth pairs whose peers go to the LAN namespace (a guest's end is not in
    // dom0, so dom0 has one link per vif as under Xen: nft reads every link on each run, so the
    // count matters), and one more guest whose vif is the curve's probe.
    let mut batch = String::new();
    let mut vifs = Vec::new();
    for d in 1..=guests as u32 + 1 {
        for n in 0..4u32 {
            let vif = format!("vif{d}.{n}");
            batch.push_str(&format!(
                "link add name {vif} type veth peer name g{d}.{n} netns {}\n",
                h.lan
            ));
            vifs.push((d, n, vif));
        }
    }
    let probe = vifs.split_off(opts.vifs);
    let probe = (probe[0].0, probe[0].1);
    let file = h.scratch.join("links.batch");
    std::fs::write(&file, batch)?;
    cmd::ip_must(&h.dom0, &["-batch", &file.display().to_string()]);
    let addr = |d: u32, n: u32| format!("10.{}.{}.{}", n + 1, d / 250, d % 250 + 1);
    for (d, n, _) in vifs.iter().chain([&(probe.0, probe.1, String::new())]) {
        let ip = addr(*d, *n);
        h.xs_write_backend(
            *d,
            *n,
            &[("ip", &ip), ("script", "/etc/xen/scripts/vif-bridge")],
        );
    }
    let env_of = |d: u32, n: u32| libxl_call(&h, side, "vif-bridge", d, n);
    let calls = |word: &str, range: &[(u32, u32, String)]| -> Vec<Value> {
        range
            .iter()
            .map(|(d, n, _)| call_json(&argv(side, "vif-bridge", word), &env_of(*d, *n)))
            .collect()
    };
    let before = h.forward_rules().len();
    let (mut online_s, mut on, mut curve) = (0.0, Vec::new(), Vec::new());
    let mut done = 0;
    for size in CURVE
        .iter()
        .copied()
        .filter(|s| *s <= opts.vifs)
        .chain([opts.vifs])
    {
        if size < done {
            continue;
        }
        if size > done {
            let t = Instant::now();
            on.extend(run_in_dom0(
                &h,
                calls("online", &vifs[done..size]),
                opts.callers,
            )?);
            online_s += t.elapsed().as_secs_f64();
            done = size;
        }
        if curve.last().is_some_and(|c: &Value| c["vifs"] == size) {
            continue;
        }
        // One more vif's life, CURVE_RUNS times, one call at a time, each time a fresh vif as
        // netback makes it (a new interface index, so nothing of an earlier round is reused);
        // then once more with -v (ours only: the originals take no -v).
        let probe_env = env_of(probe.0, probe.1);
        let probe_vif = format!("vif{}.{}", probe.0, probe.1);
        let probe_peer = format!("g{}.{}", probe.0, probe.1);
        let status = format!("{}/hotplug-status", h.backend_path(probe.0, probe.1));
        let fresh = |a: &[&str]| {
            call_json(
                &a.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                &probe_env,
            )
        };
        let renew = [
            fresh(&["ip", "link", "del", &probe_vif]),
            fresh(&[
                "ip",
                "link",
                "add",
                &probe_vif,
                "type",
                "veth",
                "peer",
                "name",
                &probe_peer,
                "netns",
                &h.lan,
            ]),
            fresh(&["xenstore-write", &status, ""]),
        ];
        let mut events = Vec::new();
        let mut timed = Vec::new();
        let verbose = side.firewall.is_some();
        for round in 0..CURVE_RUNS + usize::from(verbose) {
            events.extend(renew.iter().cloned());
            let mut word = |w: &str| {
                let mut a = argv(side, "vif-bridge", w);
                if round == CURVE_RUNS {
                    a.insert(1, "-v".into());
                }
                timed.push(events.len());
                events.push(call_json(&a, &probe_env));
            };
            word("online");
            word("offline");
        }
        let all = run_in_dom0(&h, events, 1)?;
        let r: Vec<Value> = timed.iter().map(|i| all[*i].clone()).collect();
        if let Some(bad) = r.iter().find(|x| x["status"].as_i64() != Some(0)) {
            bail!(
                "{}: the probe failed at {size} vifs: {}\nhotplug log:\n{}",
                side.name,
                bad["stderr"],
                h.hotplug_log()
            );
        }
        let ms = |parity: usize| -> Vec<f64> {
            r[..2 * CURVE_RUNS]
                .iter()
                .skip(parity)
                .step_by(2)
                .filter_map(|x| x["ms"].as_f64())
                .collect()
        };
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        let (won, woff) = (ms(0), ms(1));
        let none = json!({});
        let v_on = r.get(2 * CURVE_RUNS).unwrap_or(&none);
        let v_off = r.get(2 * CURVE_RUNS + 1).unwrap_or(&none);
        curve.push(json!({
            "vifs": size,
            "online": stats(won.clone()),
            "offline": stats(woff.clone()),
            "online_mean_ms": mean(&won),
            "offline_mean_ms": mean(&woff),
            "breakdown_online": breakdown(v_on["stderr"].as_str().unwrap_or(""), v_on["ms"].as_f64().unwrap_or(0.0)),
            "breakdown_offline": breakdown(v_off["stderr"].as_str().unwrap_or(""), v_off["ms"].as_f64().unwrap_or(0.0)),
        }));
    }
    let failed_on = on
        .iter()
        .filter(|r| r["status"].as_i64() != Some(0))
        .count();
    let links = snapshot::links(&h.dom0);
    let ports = vifs
        .iter()
        .filter(|(_, _, v)| {
            links
                .iter()
                .any(|l| l["ifname"] == v.as_str() && l["master"] == "xenbr0")
        })
        .count();
    let (exact, rules) = firewall_state(&h, side, &vifs, &addr);
    let wrong = vifs.len() - exact;
    let t = Instant::now();
    let off = run_in_dom0(&h, calls("offline", &vifs), opts.callers)?;
    let offline_s = t.elapsed().as_secs_f64();
    let failed_off = off
        .iter()
        .filter(|r| r["status"].as_i64() != Some(0))
        .count();
    // After the last vif's offline nothing of ours is left, in either backend.
    let nft_left = cmd::ns_exec(&h.dom0, &["nft", "list", "ruleset"])
        .stdout
        .matches("xen_netscripts")
        .count();
    let rules_after = h.forward_rules().len() as i64 - before as i64 + nft_left as i64;
    let ports_after = snapshot::links(&h.dom0)
        .iter()
        .filter(|l| {
            l["master"] == "xenbr0" && l["ifname"].as_str().is_some_and(|n| n.starts_with("vif"))
        })
        .count();
    let worst = |r: &[Value]| {
        r.iter()
            .filter_map(|x| x["ms"].as_f64())
            .fold(0.0, f64::max)
    };
    if let Some(bad) = on
        .iter()
        .chain(off.iter())
        .find(|r| r["status"].as_i64() != Some(0))
    {
        eprintln!("a {} call failed: {}", side.name, bad["stderr"]);
    }
    Ok(json!({
        "side": side.name,
        "vifs": opts.vifs,
        "callers": opts.callers,
        "online_total_s": online_s,
        "online_worst_ms": worst(&on),
        "offline_total_s": offline_s,
        "offline_worst_ms": worst(&off),
        "failed_calls": failed_on + failed_off,
        "ports_online": ports,
        "rules_or_elements": rules,
        "every_rule_once": wrong == 0,
        "vifs_with_missing_or_duplicate_rules": wrong,
        "rules_left_after_offline": rules_after,
        "ports_left_after_offline": ports_after,
        "curve": curve,
    }))
}

// ---------------------------------------------------------------------------------------------
// Phase 3: network-bridge start + stop

fn network_bridge(opts: &Opts) -> Result<Value> {
    let h = opts.host("bench-nb")?;
    let side = Side {
        name: "ours".into(),
        dir: opts.bin_dir.clone(),
        firewall: None,
    };
    let env = h.base_env();
    let mut calls = Vec::new();
    let runs = opts.runs.min(10);
    for _ in 0..runs {
        calls.push(call_json(&argv(&side, "network-bridge", "start"), &env));
        calls.push(call_json(&argv(&side, "network-bridge", "stop"), &env));
    }
    let res = run_in_dom0(&h, calls, 1)?;
    if let Some(bad) = res.iter().find(|r| r["status"].as_i64() != Some(0)) {
        bail!("network-bridge failed: {}", bad["stderr"]);
    }
    let pairs: Vec<f64> = res
        .chunks(2)
        .map(|c| c.iter().filter_map(|r| r["ms"].as_f64()).sum())
        .collect();
    let s = stats(pairs);
    Ok(json!({ "runs": runs, "median_ms": s["median_ms"], "stats": s }))
}

// ---------------------------------------------------------------------------------------------
// The report

#[derive(Default)]
struct Report {
    per_call: Vec<Value>,
    scale: Vec<Value>,
    network_bridge: Value,
}

impl Report {
    fn print_row(&mut self, r: &Value) {
        if self.per_call.is_empty() {
            println!(
                "{:<11} {:<4} {:<9} {:>9} {:>13} {:>9} {:>13} {:>6} {:>6} {:>8}",
                "script",
                "ip=",
                "side",
                "online",
                "(p10–p90)",
                "offline",
                "(p10–p90)",
                "procs",
                "procs",
                "RSS"
            );
            println!(
                "{:<11} {:<4} {:<9} {:>9} {:>13} {:>9} {:>13} {:>6} {:>6} {:>8}",
                "", "", "", "median ms", "", "median ms", "", "online", "offl.", "KiB"
            );
        }
        let f = |v: &Value, k: &str| v[k].as_f64().unwrap_or(0.0);
        println!(
            "{:<11} {:<4} {:<9} {:>9.1} {:>13} {:>9.1} {:>13} {:>6} {:>6} {:>8}",
            r["script"].as_str().unwrap_or(""),
            if r["ip"].as_bool() == Some(true) {
                "yes"
            } else {
                "no"
            },
            r["side"].as_str().unwrap_or(""),
            f(&r["online"], "median_ms"),
            format!(
                "{:.1}–{:.1}",
                f(&r["online"], "p10_ms"),
                f(&r["online"], "p90_ms")
            ),
            f(&r["offline"], "median_ms"),
            format!(
                "{:.1}–{:.1}",
                f(&r["offline"], "p10_ms"),
                f(&r["offline"], "p90_ms")
            ),
            r["processes_online"].as_u64().unwrap_or(0),
            r["processes_offline"].as_u64().unwrap_or(0),
            r["peak_rss_kb"].as_u64().unwrap_or(0),
        );
    }

    fn print_scale(&self, r: &Value) {
        let f = |v: &Value| v.as_f64().unwrap_or(0.0);
        for c in r["curve"].as_array().into_iter().flatten() {
            let cmds = |b: &Value| {
                b["commands"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| format!("{k} {:.1}", f(&v["ms"])))
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default()
            };
            // The originals have no -v run, hence no breakdown.
            let parts = if c["breakdown_online"]["total_ms"].as_f64().unwrap_or(0.0) > 0.0 {
                format!(
                    "; online = own {:.1} + [{}]; offline = own {:.1} + [{}]",
                    f(&c["breakdown_online"]["own_ms"]),
                    cmds(&c["breakdown_online"]),
                    f(&c["breakdown_offline"]["own_ms"]),
                    cmds(&c["breakdown_offline"]),
                )
            } else {
                String::new()
            };
            println!(
                "{} at {:>4} vifs: one more vif online {:.1} ms (mean {:.1}), offline {:.1} ms \
                 (mean {:.1}){parts}",
                r["side"].as_str().unwrap_or(""),
                c["vifs"],
                f(&c["online"]["median_ms"]),
                f(&c["online_mean_ms"]),
                f(&c["offline"]["median_ms"]),
                f(&c["offline_mean_ms"]),
            );
        }
        println!(
            "\n{} vifs, {} callers ({}): online {:.2} s (worst call {:.0} ms), offline {:.2} s \
             (worst {:.0} ms); failed calls {}; ports {}; every rule exactly once: {} ({} vifs \
             wrong); rules left after offline: {}; ports left: {}",
            r["vifs"],
            r["callers"],
            r["side"].as_str().unwrap_or(""),
            r["online_total_s"].as_f64().unwrap_or(0.0),
            r["online_worst_ms"].as_f64().unwrap_or(0.0),
            r["offline_total_s"].as_f64().unwrap_or(0.0),
            r["offline_worst_ms"].as_f64().unwrap_or(0.0),
            r["failed_calls"],
            r["ports_online"],
            r["every_rule_once"],
            r["vifs_with_missing_or_duplicate_rules"],
            r["rules_left_after_offline"],
            r["ports_left_after_offline"],
        );
    }

    fn finish(self, opts: &Opts) -> Result<()> {
        let ratios = ratios(&self.per_call);
        for (k, v) in &ratios {
            println!("original/ours median ratio, {k}: {v:.1}×");
        }
        let out = json!({
            "machine": machine(),
            "runs": opts.runs,
            "xenstore": if opts.xenstored { "wire" } else { "clients" },
            "per_call": self.per_call,
            "scale": self.scale,
            "network_bridge": self.network_bridge,
            "ratios": ratios,
        });
        std::fs::write(&opts.json, serde_json::to_string_pretty(&out)?)?;
        println!("\nwritten: {}", opts.json.display());
        Ok(())
    }
}

/// original median / our median, per (script, ip, command).
fn ratios(rows: &[Value]) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    for ours in rows
        .iter()
        .filter(|r| r["side"].as_str().is_some_and(|s| s.starts_with("ours")))
    {
        let Some(orig) = rows.iter().find(|r| {
            r["side"] == "original" && r["script"] == ours["script"] && r["ip"] == ours["ip"]
        }) else {
            continue;
        };
        for word in ["online", "offline"] {
            let (a, b) = (
                orig[word]["median_ms"].as_f64(),
                ours[word]["median_ms"].as_f64(),
            );
            if let (Some(a), Some(b)) = (a, b) {
                let ip = if ours["ip"] == true { " ip=" } else { "" };
                m.insert(
                    format!(
                        "{} {word}{ip} ({})",
                        ours["script"].as_str().unwrap_or(""),
                        ours["side"].as_str().unwrap_or("")
                    ),
                    a / b,
                );
            }
        }
    }
    m
}

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "kernel": kernel.trim(),
    })
}
