//! The results as a table for people and as one JSON line for tools.

use serde_json::{Value, json};

use crate::run::{Plan, RateResult, Results, SystemResult, max};
use crate::stats::{Latencies, ms, ratio};

pub fn table(plan: &Plan, results: &Results, machine: &str) -> String {
    let mut out = String::new();
    let mut row = |a: &str, b: String, c: String, d: String| {
        out.push_str(&format!("| {a} | {b} | {c} | {d} |\n"));
    };
    row("", "floor".into(), "jitbot".into(), "jitbot ÷ floor".into());
    row("---", "---".into(), "---".into(), "---".into());
    for (floor, jitbot) in results.floor.rates.iter().zip(&results.jitbot.rates) {
        let rate = floor.rate;
        row(
            &format!("{rate}/s: ack p50 / p99 / p99.9 ms"),
            triple(&floor.acks),
            triple(&jitbot.acks),
            ratios(&floor.acks, &jitbot.acks),
        );
        row(
            &format!("{rate}/s: served/s, failed, >3 s, server CPU, stolen by the VM, sending"),
            served(floor),
            served(jitbot),
            format!("CPU ×{}", opt(ratio(jitbot.cpu_percent, floor.cpu_percent))),
        );
        row(
            &format!("{rate}/s: per request, background work included: CPU ms, context switches"),
            cost(floor),
            cost(jitbot),
            format!(
                "{} / {}",
                opt(ratio(
                    jitbot.cost.map(|c| c.cpu_ms),
                    floor.cost.map(|c| c.cpu_ms)
                )),
                opt(ratio(
                    jitbot.cost.map(|c| c.context_switches),
                    floor.cost.map(|c| c.context_switches)
                ))
            ),
        );
        if let Some((cards, missing)) = &jitbot.cards {
            row(
                &format!("{rate}/s: command → card p50 / p99 ms"),
                "–".into(),
                format!(
                    "{} / {} ({missing} missing)",
                    ms(cards.percentile(50.0)),
                    ms(cards.percentile(99.0))
                ),
                "".into(),
            );
        }
    }
    let (fs, js) = (results.floor.saturation, results.jitbot.saturation);
    row(
        &format!("saturation ({} clients), answered/s", plan.concurrency),
        format!("{fs:.0}"),
        format!("{js:.0}"),
        opt(ratio(Some(js), Some(fs))),
    );
    let a = &results.approvals;
    let p = |l: &Latencies| format!("{} / {}", ms(l.percentile(50.0)), ms(l.percentile(99.0)));
    row(
        &format!(
            "approvals ({} at {}/s): command → card p50 / p99 ms",
            plan.approvals, plan.approval_rate
        ),
        "–".into(),
        p(&a.to_card),
        "".into(),
    );
    row(
        "click → card shows approved p50 / p99 ms",
        "–".into(),
        p(&a.click_to_approved),
        "".into(),
    );
    row(
        "click → grant at the provider p50 / p99 ms",
        "–".into(),
        format!("{} ({} failed)", p(&a.click_to_granted), a.failed),
        "".into(),
    );
    let r = &results.revocations;
    row(
        &format!(
            "revocation lag, {} of {} grants due in one second: p50 / p99 / max ms",
            plan.due, plan.grants
        ),
        "–".into(),
        format!(
            "{} / {} ({} not revoked)",
            p(&r.lag),
            ms(r.lag.max()),
            r.missing
        ),
        "".into(),
    );
    let jitbot_rss = max(results.jitbot.peak_rss_mib, r.peak_rss_mib);
    row(
        "peak RSS MiB (jitbot: most of any step; the revocation run)",
        opt(results.floor.peak_rss_mib),
        format!("{} ({})", opt(jitbot_rss), opt(r.peak_rss_mib)),
        opt(ratio(jitbot_rss, results.floor.peak_rss_mib)),
    );
    format!(
        "{machine}; history {} requests ({} open); provider answers in {} ms over {}\n\n{out}",
        plan.history,
        plan.open,
        plan.provider_delay.as_millis(),
        provider_protocol(plan),
    )
}

fn provider_protocol(plan: &Plan) -> &'static str {
    match plan.provider_http1 {
        true => "HTTP/1.1",
        false => "HTTP/2",
    }
}

pub fn json_line(plan: &Plan, results: &Results, machine: &str) -> String {
    let r = &results.revocations;
    let a = &results.approvals;
    json!({
        "bench": "jitbot",
        "machine": machine,
        "plan": {
            "rates": plan.rates, "secs": plan.secs, "history": plan.history, "open": plan.open,
            "grants": plan.grants, "due": plan.due, "provider_delay_ms": plan.provider_delay.as_millis() as u64,
            "provider_protocol": provider_protocol(plan),
            "concurrency": plan.concurrency, "server_core": plan.server_core,
        },
        "floor": system(&results.floor),
        "jitbot": system(&results.jitbot),
        "ratios": results.floor.rates.iter().zip(&results.jitbot.rates).map(|(f, j)| json!({
            "rate": f.rate,
            "ack_p50": ratio(j.acks.percentile(50.0), f.acks.percentile(50.0)),
            "ack_p99": ratio(j.acks.percentile(99.0), f.acks.percentile(99.0)),
            "ack_p999": ratio(j.acks.percentile(99.9), f.acks.percentile(99.9)),
            "cpu": ratio(j.cpu_percent, f.cpu_percent),
        })).collect::<Vec<_>>(),
        "saturation_ratio": ratio(Some(results.jitbot.saturation), Some(results.floor.saturation)),
        "approvals": {
            "command_to_card_ms": a.to_card.to_json(),
            "click_to_approved_ms": a.click_to_approved.to_json(),
            "click_to_granted_ms": a.click_to_granted.to_json(),
            "failed": a.failed,
        },
        "revocation_lag_ms": r.lag.to_json(),
        "revocations_missing": r.missing,
        "peak_rss_mib": { "floor": results.floor.peak_rss_mib, "jitbot": max(results.jitbot.peak_rss_mib, r.peak_rss_mib), "jitbot_revocations": r.peak_rss_mib },
    })
    .to_string()
}

fn system(s: &SystemResult) -> Value {
    json!({
        "rates": s.rates.iter().map(|r| json!({
            "rate": r.rate,
            "ack_ms": r.acks.to_json(),
            "over_3s": r.acks.over(3000.0),
            "failed": r.failed,
            "client_behind_ms": r.client_behind_ms.round(),
            "served_per_sec": (r.served_per_sec * 10.0).round() / 10.0,
            "cpu_percent": r.cpu_percent.map(|c| c.round()),
            "stolen_ms": r.stolen_ms,
            "command_to_card_ms": r.cards.as_ref().map(|(l, _)| l.to_json()),
            "cards_missing": r.cards.as_ref().map(|(_, m)| *m),
            "cpu_ms_per_request": r.cost.map(|c| (c.cpu_ms * 1000.0).round() / 1000.0),
            "context_switches_per_request": r.cost.map(|c| c.context_switches.round()),
        })).collect::<Vec<_>>(),
        "saturation_per_sec": s.saturation.round(),
        "peak_rss_mib": s.peak_rss_mib,
    })
}

fn triple(l: &Latencies) -> String {
    format!(
        "{} / {} / {}",
        ms(l.percentile(50.0)),
        ms(l.percentile(99.0)),
        ms(l.percentile(99.9))
    )
}

fn ratios(floor: &Latencies, jitbot: &Latencies) -> String {
    let r = |p: f64| opt(ratio(jitbot.percentile(p), floor.percentile(p)));
    format!("{} / {} / {}", r(50.0), r(99.0), r(99.9))
}

fn cost(r: &RateResult) -> String {
    r.cost.map_or("–".into(), |c| {
        format!("{:.2} ms, {:.0}", c.cpu_ms, c.context_switches)
    })
}

fn served(r: &RateResult) -> String {
    let cpu = r.cpu_percent.map_or("–".into(), |c| format!("{c:.0} %"));
    let stolen = r.stolen_ms.map_or("–".into(), |s| format!("{s:.0} ms"));
    format!(
        "{:.0}, {}, {}, {cpu}, {stolen}, client ≤ {:.0} ms late",
        r.served_per_sec,
        r.failed,
        r.acks.over(3000.0),
        r.client_behind_ms
    )
}

fn opt(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.2}"))
}
