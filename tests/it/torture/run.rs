//! One run of the torture: a seed, a variant, a directory ([`run`]); and the runs of every seed, with their
//! report ([`torture_in`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::time::{Duration, Instant};

use filetime::FileTime;
use stator::change::ChangeSet;
use stator::config::Config;
use stator::poll::{Poller, Tick};
use stator::vfs::real::RealFs;

use super::check::check;
use super::knobs::Knobs;
use super::ops::Op;
use super::rng::Rng;
use super::world::{Obj, World, setup};
use super::{DESCRIBE, MAX_SETTLE_TICKS, MIN_SETTLE_TICKS, Variant};

struct Engine {
    poller: Poller<RealFs>,
    /// The smallest racy window the engine reported so far (it uses at least this much on every tick).
    min_window: Duration,
    ticks: usize,
    hot_ticks: usize,
    warnings: usize,
}

impl Engine {
    fn note_windows(&mut self) {
        for fs in self.poller.filesystems() {
            self.min_window = self.min_window.min(fs.window);
        }
    }

    /// One full tick: every fingerprint change the model made since the last one has now been seen.
    fn full(&mut self, world: &mut World, set: &mut ChangeSet) -> Tick {
        let before = stamp(world);
        let tick = self.poller.tick();
        world.dir_gone = false;
        for (p, first) in std::mem::take(&mut world.fp_pending) {
            world.fp_seen.insert(p, (first.unwrap_or(before), world.round));
        }
        world.note_tick("tick", &tick);
        self.after(tick, set)
    }

    /// One hot tick: it may see some changes first (so it starts their racy window), but not all.
    fn hot(&mut self, world: &mut World, set: &mut ChangeSet) -> Tick {
        stamp(world);
        self.hot_ticks += 1;
        let tick = self.poller.tick_hot();
        world.note_tick("hot tick", &tick);
        self.after(tick, set)
    }

    fn after(&mut self, tick: Tick, set: &mut ChangeSet) -> Tick {
        self.ticks += 1;
        self.warnings += tick.warnings.len();
        set.extend(tick.changes.iter().cloned());
        self.note_windows();
        tick
    }
}

/// The time just before a tick: the earliest scan time at which it can see the changes still pending.
fn stamp(world: &mut World) -> FileTime {
    let now = FileTime::now();
    for first in world.fp_pending.values_mut() {
        first.get_or_insert(now);
    }
    now
}

/// Whether a racy rewrite of `p` is one the engine promises to see: it looked at the current fingerprint (a full
/// tick) and kept its content hash, which it does for a whole racy window after first seeing it.
fn racy_promised(world: &World, p: &Path, min_window: Duration) -> bool {
    if world.fp_pending.contains_key(p) {
        return false;
    }
    let Some((seen, _)) = world.fp_seen.get(p) else { return false };
    let now = FileTime::now();
    let age = (i128::from(now.unix_seconds()) - i128::from(seen.unix_seconds())) * 1_000_000_000
        + i128::from(now.nanoseconds())
        - i128::from(seen.nanoseconds());
    age >= 0 && age < (min_window / 2).as_nanos() as i128
}

struct Summary {
    ops: usize,
    rounds: usize,
    ticks: usize,
    hot_ticks: usize,
    misses: usize,
    phantoms: usize,
    wrong: usize,
    tracking: usize,
    counts: BTreeMap<&'static str, usize>,
    reported: usize,
    warnings: usize,
    /// Rounds on a mount that were complete only after more ticks, and the longest such wait.
    late: usize,
    late_max: Duration,
    failures: String,
}

fn run(variant: Variant, seed: u64, knobs: &Knobs) -> Summary {
    let mut rng = Rng(seed);
    let mut builder = tempfile::Builder::new();
    builder.prefix("stator-torture-").disable_cleanup(knobs.keep);
    let tmp = match &knobs.base {
        Some(base) => builder.tempdir_in(base),
        None => builder.tempdir(),
    }
    .expect("create the test directory");
    let mut world = setup(tmp.path(), &mut rng);
    world.avoid_known_bugs = variant.avoid_known_bugs;
    world.quirks = knobs.quirks;
    world.trace = knobs.trace;

    // What this directory can do. The links the test makes point at absolute paths, and are followed: sshfs makes
    // them but refuses to read them back (its `contain_symlinks` default: EPERM for an absolute target).
    let mut skip = knobs.skip.clone();
    let probe = world.outside.join("probe");
    let target = world.ext.join(&world.ext_files[0].name);
    let links_work = symlink(&target, &probe).is_ok() && fs::metadata(&probe).is_ok();
    let _ = fs::remove_file(&probe);
    if !links_work {
        eprintln!(
            "torture[{}] on {}: symlinks to absolute paths cannot be made or followed here; symlink operations left out",
            variant.name, knobs.label
        );
        skip.insert("symlink".into());
    }
    fs::write(&probe, "x").expect("write probe");
    let mode_sticks = fs::set_permissions(&probe, fs::Permissions::from_mode(0o600)).is_ok()
        && fs::metadata(&probe).is_ok_and(|m| m.permissions().mode() & 0o777 == 0o600);
    if !mode_sticks {
        eprintln!("torture[{}] on {}: chmod does not stick here; chmod operations left out", variant.name, knobs.label);
        skip.insert("chmod".into());
    }
    let _ = fs::remove_file(&probe);
    if skip.contains("symlink") {
        // The setup made none; nothing else to undo.
    } else {
        for _ in 0..3 {
            let dirs = world.dirs();
            let dir = rng.pick(&dirs).unwrap_or_default();
            let p = world.new_name(&dir, "l");
            let t = world.random_target(&mut rng, true);
            symlink(world.target_path(t), world.abs(&p)).expect("symlink");
            world.model.insert(p, Obj::Link(t));
        }
    }
    let ops: Vec<(Op, u32)> = Op::ALL
        .iter()
        .map(|&op| (op, op.weight(&variant)))
        .filter(|(op, w)| *w > 0 && !op.needs().iter().any(|n| skip.contains(*n)) && !skip.contains(op.name()))
        .collect();
    let total_weight: u32 = ops.iter().map(|(_, w)| w).sum();

    let mount = knobs.base.is_some();
    let cfg = Config {
        roots: vec![world.root.clone()],
        trust_ctime: variant.trust_ctime,
        // On the local disk the safety-net re-listing never runs during the test, so what is found is found by
        // the rules alone; on a mount it runs, as it would there.
        rescan: if mount { Duration::from_secs(2) } else { Duration::from_secs(86_400) },
        ..Config::default()
    };
    let mut engine = Engine {
        poller: Poller::new(cfg, RealFs).expect("no patterns"),
        min_window: Duration::from_secs(3),
        ticks: 0,
        hot_ticks: 0,
        warnings: 0,
    };
    let mut sink = ChangeSet::new();
    let base_tick = engine.full(&mut world, &mut sink);
    assert!(base_tick.changes.is_empty(), "the baseline reports nothing: {:?}", base_tick.changes);
    let mut before = world.view();
    let mut failures = String::new();
    let mut described = 0;
    let mut s = Summary {
        ops: 0,
        rounds: 0,
        ticks: 0,
        hot_ticks: 0,
        misses: 0,
        phantoms: 0,
        wrong: 0,
        tracking: 0,
        counts: BTreeMap::new(),
        reported: 0,
        warnings: 0,
        late: 0,
        late_max: Duration::ZERO,
        failures: String::new(),
    };
    {
        let v = check(&world, &before, &before, &ChangeSet::new(), &engine.poller.files(), variant.trust_ctime);
        s.tracking += v.tracking.len();
        for t in &v.tracking {
            let _ = writeln!(failures, "  after the baseline: {t}");
        }
    }

    while s.ops < knobs.ops {
        s.rounds += 1;
        world.round = s.rounds;
        world.log.clear();
        world.touched.clear();
        world.touched_under.clear();
        world.ctime_touched.clear();
        let mut set = ChangeSet::new();
        let first_op = s.ops;
        for _ in 0..rng.range(1, 4) {
            for _ in 0..rng.range(1, 6) {
                if s.ops >= knobs.ops {
                    break;
                }
                let min_window = engine.min_window;
                let racy_ok = move |w: &World, p: &Path| racy_promised(w, p, min_window);
                let done = loop {
                    let mut r = rng.below(total_weight as usize) as u32;
                    let op = ops.iter().find(|(_, w)| {
                        if r < *w {
                            true
                        } else {
                            r -= w;
                            false
                        }
                    });
                    let Some(&(op, _)) = op else { continue };
                    if knobs.trace {
                        eprintln!(
                            "torture[{}] on {}: operation {} ({})...",
                            variant.name,
                            knobs.label,
                            s.ops,
                            op.name()
                        );
                    }
                    if let Some(done) = world.apply(&mut rng, op, &racy_ok) {
                        if knobs.trace {
                            eprintln!("torture[{}] on {}:   {done}", variant.name, knobs.label);
                        }
                        *world.counts.entry(op.name()).or_default() += 1;
                        break done;
                    }
                };
                s.ops += 1;
                world.log.push(done);
            }
            for _ in 0..rng.range(0, 2) {
                let hot = rng.chance(35);
                if hot && world.avoid_known_bugs && world.dir_gone {
                    world
                        .log
                        .push("  (a full tick instead of a hot one: a directory went since the last full tick)".into());
                    engine.full(&mut world, &mut set);
                } else if hot {
                    engine.hot(&mut world, &mut set);
                } else {
                    engine.full(&mut world, &mut set);
                }
            }
        }

        // Settle: a few full ticks, until two in a row found nothing and nothing waits for confirmation.
        world.log.push("  settling:".into());
        let mut quiet = 0;
        for n in 1..=MAX_SETTLE_TICKS {
            let tick = engine.full(&mut world, &mut set);
            quiet = if tick.changes.is_empty() && !tick.pending { quiet + 1 } else { 0 };
            if n >= MIN_SETTLE_TICKS && quiet >= 2 {
                break;
            }
        }
        let after = world.view();
        let mut verdict = check(&world, &before, &after, &set, &engine.poller.files(), variant.trust_ctime);
        if mount && verdict.failures() > 0 {
            // A mount may show a change late (attribute caches): look again until it is visible, bounded.
            let first = verdict.misses.iter().chain(&verdict.wrong).chain(&verdict.tracking).next().cloned();
            let started = Instant::now();
            let deadline = started + knobs.settle_limit;
            let mut extra = 0;
            while verdict.failures() > 0 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
                engine.full(&mut world, &mut set);
                extra += 1;
                verdict = check(&world, &before, &after, &set, &engine.poller.files(), variant.trust_ctime);
            }
            s.late += 1;
            s.late_max = s.late_max.max(started.elapsed());
            if knobs.trace || verdict.failures() == 0 {
                eprintln!(
                    "torture[{}] on {}: round {} was complete only after {extra} more ticks ({} ms); first missing: {}",
                    variant.name,
                    knobs.label,
                    s.rounds,
                    started.elapsed().as_millis(),
                    first.unwrap_or_else(|| "(a phantom)".into())
                );
            }
        }
        s.misses += verdict.misses.len();
        s.phantoms += verdict.phantoms.len();
        s.wrong += verdict.wrong.len();
        s.tracking += verdict.tracking.len();
        s.reported += set.len();
        if verdict.failures() > 0 {
            if described < DESCRIBE {
                described += 1;
                let _ = writeln!(failures, "round {} (operations {}..{}):", s.rounds, first_op, s.ops);
                for line in &world.log {
                    let _ = writeln!(failures, "    {line}");
                }
                for (what, list) in [
                    ("miss", &verdict.misses),
                    ("wrong kind", &verdict.wrong),
                    ("phantom", &verdict.phantoms),
                    ("tracking", &verdict.tracking),
                ] {
                    for item in list {
                        let _ = writeln!(failures, "  {what}: {item}");
                    }
                }
                let got: Vec<String> = set
                    .iter()
                    .map(|(p, k, r)| format!("{k} {} ({r})", p.strip_prefix(&world.root).unwrap_or(p).display()))
                    .collect();
                let _ = writeln!(failures, "  the round's change set: {got:?}");
            } else if described == DESCRIBE {
                described += 1;
                let _ = writeln!(failures, "(later failing rounds are counted, not described)");
            }
            if mount && described >= DESCRIBE {
                // Each failing round on a mount waits out the settle limit: enough is known.
                let _ = writeln!(
                    failures,
                    "(stopped after {DESCRIBE} failing rounds: on a mount each one waits up to {:?} for a change to show)",
                    knobs.settle_limit
                );
                break;
            }
        }
        before = after;
    }
    s.ticks = engine.ticks;
    s.hot_ticks = engine.hot_ticks;
    s.warnings = engine.warnings;
    s.counts = std::mem::take(&mut world.counts);
    s.failures = failures;
    s
}

/// Runs `variant` once per seed of `knobs`, each in a fresh directory; returns the report and whether any run
/// missed or invented something.
pub(super) fn torture_in(variant: Variant, knobs: &Knobs) -> (String, bool) {
    let mut report = String::new();
    let mut failed = false;
    for &seed in &knobs.seeds {
        let started = Instant::now();
        let s = run(variant, seed, knobs);
        let line = format!(
            "torture[{}] seed {seed:#x}: {} operations in {} rounds, {} ticks ({} hot), {} paths reported; \
             misses {}, wrong kinds {}, phantoms {}, tracking {}; {} warnings; {} late rounds (longest {} ms); {:.1}s \
             on {}\n  operations: {:?}",
            variant.name,
            s.ops,
            s.rounds,
            s.ticks,
            s.hot_ticks,
            s.reported,
            s.misses,
            s.wrong,
            s.phantoms,
            s.tracking,
            s.warnings,
            s.late,
            s.late_max.as_millis(),
            started.elapsed().as_secs_f64(),
            knobs.label,
            s.counts,
        );
        eprintln!("{line}");
        let _ = writeln!(report, "{line}");
        if s.misses + s.wrong + s.phantoms + s.tracking > 0 {
            failed = true;
            let (env, test) = &knobs.replay;
            let test = if test.is_empty() { variant.name } else { test };
            let _ = writeln!(
                report,
                "FAILED; replay with {env}STATOR_TORTURE_SEED={seed:#x} STATOR_TORTURE_OPS={} cargo test --test it \
                 {test}\n{}",
                knobs.ops, s.failures
            );
        }
    }
    (report, failed)
}
