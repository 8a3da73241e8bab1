//! Charts as plain SVG: one line chart per scenario, from one run's results or several.

use serde_json::Value;

struct Series {
    name: String,
    points: Vec<(f64, f64)>,
}

/// The round number (1, 2, 2.5 or 5 times a power of ten) an axis ends at.
fn nice_max(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * p >= v {
            return m * p;
        }
    }
    10.0 * p
}

fn line_chart(title: &str, xlabel: &str, ylabel: &str, series: &[Series]) -> String {
    let (w, h, l, r, t, b) = (760.0, 420.0, 70.0, 170.0, 40.0, 50.0);
    let xmax = nice_max(
        series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0))
            .fold(0.0, f64::max),
    );
    let ymax = nice_max(
        series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .fold(0.0, f64::max),
    );
    let px = |x: f64| l + x / xmax * (w - l - r);
    let py = |y: f64| h - b - y / ymax * (h - t - b);
    let colors = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
    ];
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{}\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">{}</text>\n",
        (w - r + l) / 2.0,
        esc(title)
    );
    for i in 0..=5 {
        let fx = xmax * i as f64 / 5.0;
        let fy = ymax * i as f64 / 5.0;
        s += &format!(
            "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"#eee\"/><text x=\"{x}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
            t, h - b, h - b + 16.0, fmt_num(fx), x = px(fx)
        );
        s += &format!(
            "<line x1=\"{l}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#eee\"/><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n",
            w - r, l - 6.0, py(fy) + 4.0, fmt_num(fy), y = py(fy)
        );
    }
    s += &format!(
        "<line x1=\"{l}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#333\"/><line x1=\"{l}\" y1=\"{t}\" x2=\"{l}\" y2=\"{}\" stroke=\"#333\"/>\n",
        h - b, w - r, h - b, h - b
    );
    s += &format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text><text transform=\"translate(16,{}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
        (w - r + l) / 2.0, h - 12.0, esc(xlabel), (h - b + t) / 2.0, esc(ylabel)
    );
    for (i, se) in series.iter().enumerate() {
        let c = colors[i % colors.len()];
        let pts: Vec<String> = se
            .points
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y)))
            .collect();
        s += &format!(
            "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"2\" points=\"{}\"/>\n",
            pts.join(" ")
        );
        for (x, y) in &se.points {
            s += &format!(
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{c}\"/>\n",
                px(*x),
                py(*y)
            );
        }
        let ly = t + 10.0 + i as f64 * 18.0;
        s += &format!(
            "<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{c}\"/><text x=\"{}\" y=\"{}\">{}</text>\n",
            w - r + 12.0, ly - 10.0, w - r + 30.0, ly, esc(&se.name)
        );
    }
    s += "</svg>\n";
    s
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn fmt_num(v: f64) -> String {
    if v >= 1000.0 && (v / 1000.0).fract() == 0.0 {
        format!("{}k", v / 1000.0)
    } else if v.fract() == 0.0 {
        format!("{v}")
    } else {
        format!("{v:.2}")
    }
}

/// The chart for results of one scenario (`None` for `export`, which has no steps).
pub fn chart_for(results: &[Value]) -> Option<String> {
    let first = results.first()?;
    let scenario = first["scenario"].as_str()?;
    let steps = |r: &Value| r["steps"].as_array().cloned().unwrap_or_default();
    let f = |v: &Value| v.as_f64().unwrap_or(0.0);
    match scenario {
        // One figure per kind of query or per archive: a table in BENCHMARKS.md, not a chart.
        "export" | "search" => None,
        "idle" => {
            let mut series = vec![];
            for r in results {
                let inst = r["instances"].as_u64().unwrap_or(1);
                series.push(Series {
                    name: format!("RSS growth ({inst} inst.)"),
                    points: steps(r)
                        .iter()
                        .map(|s| {
                            let g: f64 = s["server"]
                                .as_array()
                                .map(|a| a.iter().map(|x| f(&x["growth_mib"])).sum())
                                .unwrap_or(0.0);
                            (f(&s["sockets_open"]), g)
                        })
                        .collect(),
                });
            }
            Some(line_chart(
                "Idle sockets: server RSS growth",
                "open sockets",
                "MiB",
                &series,
            ))
        }
        "api" => {
            let mut series = vec![];
            for r in results {
                let db = r["database"].as_str().unwrap_or("?").to_string();
                let mut modes: Vec<Option<&str>> = vec![];
                for s in r["steps"].as_array().into_iter().flatten() {
                    let m = s["sqlite_synchronous"].as_str();
                    if !modes.contains(&m) {
                        modes.push(m);
                    }
                }
                for mode in modes {
                    let label = mode.map_or(db.clone(), |m| format!("{db}, {m}"));
                    for k in ["inbound", "assign"] {
                        series.push(Series {
                            name: format!("{k} ({label})"),
                            points: steps(r)
                                .iter()
                                .filter(|s| s["sqlite_synchronous"].as_str() == mode)
                                .map(|s| (f(&s["concurrency"]), f(&s[k]["per_s"])))
                                .collect(),
                        });
                    }
                }
            }
            Some(line_chart(
                "HTTP throughput",
                "requests in flight",
                "requests/s",
                &series,
            ))
        }
        _ => {
            let mut series = vec![];
            let multi = results.len() > 1;
            for (i, r) in results.iter().enumerate() {
                let tag = if multi {
                    format!(" #{}", i + 1)
                } else {
                    String::new()
                };
                for (label, path, q) in [
                    ("p50", "latency_ms", "p50"),
                    ("p99", "latency_ms", "p99"),
                    ("p99.9", "latency_ms", "p99_9"),
                    ("last recip. p99", "last_recipient_ms", "p99"),
                ] {
                    series.push(Series {
                        name: format!("{label}{tag}"),
                        points: steps(r)
                            .iter()
                            .map(|s| (f(&s["deliveries_per_s"]), f(&s[path][q])))
                            .collect(),
                    });
                }
            }
            Some(line_chart(
                &format!("{scenario}: latency from action to socket vs load"),
                "deliveries per second",
                "ms",
                &series,
            ))
        }
    }
}
