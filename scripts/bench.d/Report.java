import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;

/**
 * Turns the raw measurements of one benchmark run into the markdown table (stdout) and the JSON
 * file.
 *
 * <p>Usage: {@code java Report RESULTS_TSV META_TSV OUT_JSON PROXIES}. RESULTS_TSV has one
 * measurement a line: {@code round<TAB>proxy<TAB>key<TAB>value}; META_TSV has {@code key<TAB>value}
 * lines that go into the JSON as strings; PROXIES is the comma-separated list, the first being the
 * reference the ratios are taken against.
 *
 * <p>Every value in the table is the median over the rounds. Each ratio is computed within one
 * round (same machine state for both proxies) and the median of those per-round ratios is shown.
 * A workload that had any error (non-2xx answer, socket error, lost bytes) in any round is shown as
 * FAILED for that proxy and takes no part in ratios.
 *
 * <p>A measurement is only meaningful while the proxy, not the load side, limits the rate. For
 * each measurement the busy share of the load-generator core is recorded
 * ({@code NAME.load_core_busy_pct}); where it exceeded the limit (meta
 * {@code run.loadCoreLimitPercent}, default 85) in any round, the workload is shown as INVALID for
 * that proxy and, like a FAILED one, takes no part in ratios or target verdicts. A line under the
 * table gives the load core's smallest idle share over all measurements and whether the run is
 * valid.
 *
 * <p>Targets are for this proxy: a ratio to the reference or an absolute limit. They are judged in
 * one verdict column per variant present: {@code ours} (the recommended JVM flags) and
 * {@code ours-plain} (no JVM flags).
 */
public final class Report {

    /** The variants of this proxy that the targets are judged for, in column order. */
    private static final List<String> JUDGED = List.of("ours", "ours-plain");

    /** The measurements that record the load core's busy share, in the order of the summary. */
    private static final List<String> LOADED = List.of("c64", "c512", "get1m", "down", "up", "tls64", "tlsnew", "h2");

    private enum Kind {
        /** A result: median over rounds, ratios, target. */
        RESULT,
        /** A condition of the run: median over rounds, no ratio. */
        CHECK,
        /** A condition of the run where the worst round matters: largest value over the rounds. */
        CHECK_MAX
    }

    /** One row of the table. {@code errorKey} names the error count that invalidates it. */
    private record Row(String key, String label, String unit, boolean higherIsBetter, String errorKey,
                       String target, Kind kind) {
        Row(String key, String label, String unit, boolean higherIsBetter, String errorKey, String target) {
            this(key, label, unit, higherIsBetter, errorKey, target, Kind.RESULT);
        }

        boolean info() {
            return kind != Kind.RESULT;
        }

        /** The measurement the row belongs to ("c64" for "c64.errors"), "" when none. */
        String measurement() {
            return errorKey.endsWith(".errors") ? errorKey.substring(0, errorKey.length() - ".errors".length()) : "";
        }
    }

    private static final List<Row> ROWS = List.of(
            new Row("c64.rps", "Small GET, 64 conns: throughput", "req/s", true, "c64.errors", ">= 1.0x"),
            new Row("c64.p50_ms", "Small GET, 64 conns: p50 latency", "ms", false, "c64.errors", ""),
            new Row("c64.p99_ms", "Small GET, 64 conns: p99 latency", "ms", false, "c64.errors", "<= 1.2x"),
            new Row("c64.cpu_us", "Small GET, 64 conns: proxy CPU per request", "us", false, "c64.errors", "<= 1.0x"),
            new Row("c512.rps", "Small GET, 512 conns: throughput", "req/s", true, "c512.errors", ">= 1.0x"),
            new Row("c512.p50_ms", "Small GET, 512 conns: p50 latency", "ms", false, "c512.errors", ""),
            new Row("c512.p99_ms", "Small GET, 512 conns: p99 latency", "ms", false, "c512.errors", "<= 1.2x"),
            new Row("c512.cpu_us", "Small GET, 512 conns: proxy CPU per request", "us", false, "c512.errors", "<= 1.0x"),
            new Row("c512.peak_rss_mib", "Small GET, 512 conns: peak RSS", "MiB", false, "c512.errors", "<= 96 MiB"),
            new Row("get1m.mibs", "1 MiB GET, 8 conns: throughput", "MiB/s", true, "get1m.errors", ">= 1.0x"),
            new Row("down.mibs", "{transfer} download: throughput", "MiB/s", true, "down.errors", ">= 1.0x"),
            new Row("down.peak_rss_mib", "{transfer} download: peak RSS", "MiB", false, "down.errors", ""),
            new Row("down.rss_growth_mib", "{transfer} download: RSS growth", "MiB", false, "down.errors", "< 8 MiB"),
            new Row("up.mibs", "{transfer} upload: throughput", "MiB/s", true, "up.errors", ">= 1.0x"),
            new Row("up.peak_rss_mib", "{transfer} upload: peak RSS", "MiB", false, "up.errors", ""),
            new Row("up.rss_growth_mib", "{transfer} upload: RSS growth", "MiB", false, "up.errors", "< 8 MiB"),
            new Row("idle_rss_mib", "Idle RSS after start", "MiB", false, "ready.errors", "<= 48 MiB"),
            new Row("conn.kib_per_conn", "Memory per idle client connection (10k open)", "KiB", false, "conn.errors",
                    "<= 4 KiB"),
            new Row("ready_ms", "Time to ready (start to first 200)", "ms", false, "ready.errors", "<= 500 ms"),
            // scripts/bench --tls
            new Row("tls64.rps", "HTTPS small GET, 64 conns: throughput", "req/s", true, "tls64.errors", ">= 1.0x"),
            new Row("tls64.p99_ms", "HTTPS small GET, 64 conns: p99 latency", "ms", false, "tls64.errors", ""),
            new Row("tls64.cpu_us", "HTTPS small GET, 64 conns: proxy CPU per request", "us", false, "tls64.errors",
                    "<= 1.0x"),
            new Row("tlsnew.rps", "New TLS connections (handshake + 1 GET), 64 at a time, cap 20%", "conn/s", true,
                    "tlsnew.errors", ">= 1.0x"),
            new Row("tlsnew.cpu_us", "New TLS connections: proxy CPU per connection", "us", false, "tlsnew.errors",
                    "<= 1.0x"),
            new Row("h2.rps", "HTTP/2, 8 conns x 100 streams: throughput", "req/s", true, "h2.errors", ">= 1.0x"),
            new Row("h2.mean_ms", "HTTP/2, 8 conns x 100 streams: mean latency", "ms", false, "h2.errors", ""),
            new Row("h2.cpu_us", "HTTP/2, 8 conns x 100 streams: proxy CPU per request", "us", false, "h2.errors",
                    "<= 1.0x"),
            // Conditions of the run rather than results. The load core's busy share in the worst
            // round (over the limit: wrk, curl or the origins may have limited the rate, and the
            // measurement is invalid); how much CPU the proxy used (about the cap when it is the
            // bottleneck); how much of the proxy's core went to other processes of the machine.
            new Row("c64.load_core_busy_pct", "Check: load core busy, small GET c64 (worst round)", "%", false,
                    "c64.errors", "", Kind.CHECK_MAX),
            new Row("c512.load_core_busy_pct", "Check: load core busy, small GET c512 (worst round)", "%", false,
                    "c512.errors", "", Kind.CHECK_MAX),
            new Row("get1m.load_core_busy_pct", "Check: load core busy, 1 MiB GET (worst round)", "%", false,
                    "get1m.errors", "", Kind.CHECK_MAX),
            new Row("down.load_core_busy_pct", "Check: load core busy, {transfer} download (worst round)", "%",
                    false, "down.errors", "", Kind.CHECK_MAX),
            new Row("up.load_core_busy_pct", "Check: load core busy, {transfer} upload (worst round)", "%", false,
                    "up.errors", "", Kind.CHECK_MAX),
            new Row("tls64.load_core_busy_pct", "Check: load core busy, HTTPS small GET (worst round)", "%", false,
                    "tls64.errors", "", Kind.CHECK_MAX),
            new Row("tlsnew.load_core_busy_pct", "Check: load core busy, new TLS connections (worst round)", "%", false,
                    "tlsnew.errors", "", Kind.CHECK_MAX),
            new Row("h2.load_core_busy_pct", "Check: load core busy, HTTP/2 (worst round)", "%", false,
                    "h2.errors", "", Kind.CHECK_MAX),
            new Row("c64.proxy_cpu_pct", "Check: proxy CPU use, small GET c64 ({cap})", "% of a core", false,
                    "c64.errors", "", Kind.CHECK),
            new Row("c64.proxy_core_other_pct", "Check: proxy core used by other processes, c64", "%", false,
                    "c64.errors", "", Kind.CHECK),
            new Row("restarts", "Check: proxy exits during the run (restarted)", "count", false, "", "", Kind.CHECK));

    /** Sanity measurements that go into the JSON only. */
    private static final List<String> EXTRA_KEYS = List.of(
            "c64.requests", "c512.requests", "get1m.requests",
            "c64.proxy_core_busy_pct", "c64.load_core_busy_pct", "c64.proxy_cpu_pct",
            "c512.proxy_core_busy_pct", "c512.load_core_busy_pct", "c512.proxy_cpu_pct",
            "get1m.proxy_core_busy_pct", "get1m.load_core_busy_pct", "get1m.proxy_cpu_pct",
            "down.seconds", "down.proxy_core_busy_pct", "down.load_core_busy_pct",
            "up.seconds", "up.proxy_core_busy_pct", "up.load_core_busy_pct",
            "conn.opened", "conn.rss_before_mib", "conn.rss_with_conns_mib", "uncapped");

    /** Whether any proxy has a value or an error count for {@code row} in this run. */
    private static boolean measured(Map<String, Map<String, Map<Integer, Double>>> values, List<String> proxies,
            Row row) {
        for (String p : proxies) {
            Map<String, Map<Integer, Double>> of = values.getOrDefault(p, Map.of());
            if (of.containsKey(row.key) || (!row.errorKey.isEmpty() && of.containsKey(row.errorKey))) {
                return true;
            }
        }
        return row.key.equals("restarts");
    }

    public static void main(String[] args) throws IOException {
        Path resultsFile = Path.of(args[0]);
        Path metaFile = Path.of(args[1]);
        Path outJson = Path.of(args[2]);
        List<String> proxies = Arrays.asList(args[3].split(","));
        String reference = proxies.get(0);

        // values.get(proxy).get(key).get(round)
        Map<String, Map<String, Map<Integer, Double>>> values = new LinkedHashMap<>();
        TreeSet<Integer> rounds = new TreeSet<>();
        if (Files.exists(resultsFile)) {
            for (String line : Files.readAllLines(resultsFile, StandardCharsets.UTF_8)) {
                String[] f = line.split("\t");
                if (f.length != 4 || f[3].isEmpty()) {
                    continue;
                }
                int round = Integer.parseInt(f[0]);
                rounds.add(round);
                values.computeIfAbsent(f[1], k -> new LinkedHashMap<>())
                        .computeIfAbsent(f[2], k -> new LinkedHashMap<>())
                        .put(round, Double.parseDouble(f[3]));
            }
        }
        Map<String, String> meta = new LinkedHashMap<>();
        for (String line : Files.readAllLines(metaFile, StandardCharsets.UTF_8)) {
            int tab = line.indexOf('\t');
            if (tab > 0) {
                meta.put(line.substring(0, tab), line.substring(tab + 1));
            }
        }

        String mib = meta.getOrDefault("run.transferMiB", "1024");
        String transfer = mib.equals("1024") ? "1 GiB" : mib + " MiB";
        String capPct = meta.getOrDefault("run.proxyCpuPercent", "100");
        String cap = capPct.equals("100") ? "no cap" : "cap " + capPct + "%";
        double loadLimit = Double.parseDouble(meta.getOrDefault("run.loadCoreLimitPercent", "85"));
        Validity validity = new Validity(values, loadLimit);
        List<String> judged = new ArrayList<>();
        for (String v : JUDGED) {
            if (proxies.contains(v) && !v.equals(reference)) {
                judged.add(v);
            }
        }

        StringBuilder md = new StringBuilder();
        md.append("| Workload | unit |");
        for (String p : proxies) {
            md.append(' ').append(p).append(" |");
        }
        for (String p : proxies.subList(1, proxies.size())) {
            md.append(' ').append(p).append(" / ").append(reference).append(" |");
        }
        md.append(" target |");
        for (String v : judged) {
            md.append(" verdict ").append(v).append(" |");
        }
        md.append("\n|---|---|").append("---:|".repeat(proxies.size() * 2 - 1)).append("---|");
        md.append("---|".repeat(judged.size())).append('\n');

        // "group.key" entries become {"group": {"key": ...}}; values that are integers stay numbers.
        Map<String, Map<String, String>> groups = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : meta.entrySet()) {
            int dot = e.getKey().indexOf('.');
            String group = dot > 0 ? e.getKey().substring(0, dot) : "";
            String key = dot > 0 ? e.getKey().substring(dot + 1) : e.getKey();
            groups.computeIfAbsent(group.isEmpty() ? "\0" + key : group, g -> new LinkedHashMap<>()).put(key, e.getValue());
        }
        StringBuilder json = new StringBuilder("{\n");
        for (Map.Entry<String, Map<String, String>> g : groups.entrySet()) {
            if (g.getKey().startsWith("\0")) {
                Map.Entry<String, String> only = g.getValue().entrySet().iterator().next();
                json.append("  ").append(str(only.getKey())).append(": ").append(value(only.getValue())).append(",\n");
            } else {
                List<String> items = new ArrayList<>();
                for (Map.Entry<String, String> e : g.getValue().entrySet()) {
                    items.add(str(e.getKey()) + ": " + value(e.getValue()));
                }
                json.append("  ").append(str(g.getKey())).append(": {").append(String.join(", ", items)).append("},\n");
            }
        }
        json.append("  \"proxies\": [");
        for (int i = 0; i < proxies.size(); i++) {
            json.append(i > 0 ? ", " : "").append(str(proxies.get(i)));
        }
        json.append("],\n  \"roundsCompleted\": ").append(rounds.tailSet(1).size()).append(",\n  \"metrics\": [\n");

        List<String> jsonRows = new ArrayList<>();
        for (Row template : ROWS) {
            if (!measured(values, proxies, template)) {
                continue; // a workload this run did not have (--tls runs only the TLS ones)
            }
            Row row = new Row(template.key, template.label.replace("{transfer}", transfer).replace("{cap}", cap),
                    template.unit, template.higherIsBetter, template.errorKey, template.target, template.kind);
            md.append("| ").append(row.label).append(" | ").append(row.unit).append(" |");
            StringBuilder jr = new StringBuilder();
            jr.append("    {\"key\": ").append(str(row.key)).append(", \"label\": ").append(str(row.label))
                    .append(", \"unit\": ").append(str(row.unit)).append(", \"better\": ")
                    .append(str(row.higherIsBetter ? "higher" : "lower")).append(", \"target\": ")
                    .append(str(row.target)).append(",\n      \"values\": {");
            for (int i = 0; i < proxies.size(); i++) {
                String p = proxies.get(i);
                Map<Integer, Double> perRound = series(values, p, row.key);
                double errors = errorTotal(values, p, row.errorKey);
                Double load = row.info() ? null : validity.overLimit(p, row.measurement());
                Double shown = switch (row.kind) {
                    case CHECK_MAX -> max(perRound.values());
                    default -> row.key.equals("restarts")
                            ? Double.valueOf(errorTotal(values, p, "restarts"))
                            : median(new ArrayList<>(perRound.values()));
                };
                String cell;
                if (errors > 0) {
                    cell = "FAILED (" + num(errors) + (errors == 1 ? " error)" : " errors)");
                } else if (load != null) {
                    cell = String.format(Locale.ROOT, "INVALID (load %.0f%%)", load);
                } else if (shown == null) {
                    cell = "n/a";
                } else {
                    cell = row.unit.equals("count") ? num(shown) : fmt(shown);
                    if (row.kind == Kind.CHECK_MAX && row.key.endsWith(".load_core_busy_pct") && shown > loadLimit) {
                        cell += " (over " + num(loadLimit) + ")";
                    }
                }
                md.append(' ').append(cell).append(" |");
                boolean usable = errors == 0 && load == null && shown != null;
                jr.append(i > 0 ? ", " : "").append(str(p)).append(": {\"")
                        .append(row.kind == Kind.CHECK_MAX ? "max" : "median").append("\": ")
                        .append(usable ? num(shown) : "null")
                        .append(", \"failed\": ").append(errors > 0).append(", \"errors\": ").append(num(errors))
                        .append(", \"invalid\": ").append(load != null)
                        .append(", \"rounds\": ").append(roundsJson(perRound)).append('}');
            }
            jr.append("},\n      \"ratiosTo").append(cap(reference)).append("\": {");
            Map<String, Double> ratios = new LinkedHashMap<>();
            for (int i = 1; i < proxies.size(); i++) {
                String p = proxies.get(i);
                Double ratio = row.info() ? null : ratio(values, validity, row, p, reference);
                ratios.put(p, ratio);
                String cell = ratio == null ? "-" : String.format(Locale.ROOT, "%.2fx", ratio);
                md.append(' ').append(cell).append(" |");
                jr.append(i > 1 ? ", " : "").append(str(p)).append(": ").append(ratio == null ? "null" : num(ratio));
            }
            md.append(' ').append(row.target).append(" |");
            jr.append("},\n      \"verdicts\": {");
            for (int i = 0; i < judged.size(); i++) {
                String v = judged.get(i);
                String verdict = targetVerdict(row, ratios.get(v), values, validity, v, reference);
                md.append(' ').append(verdict).append(" |");
                jr.append(i > 0 ? ", " : "").append(str(v)).append(": ").append(verdict.isEmpty() ? "null" : str(verdict));
            }
            md.append('\n');
            jr.append("}}");
            jsonRows.add(jr.toString());
        }
        json.append(String.join(",\n", jsonRows)).append("\n  ],\n  \"extra\": {");
        List<String> extras = new ArrayList<>();
        for (String p : proxies) {
            List<String> items = new ArrayList<>();
            for (String key : EXTRA_KEYS) {
                Map<Integer, Double> perRound = series(values, p, key);
                if (!perRound.isEmpty()) {
                    items.add(str(key) + ": " + roundsJson(perRound));
                }
            }
            extras.add("\n    " + str(p) + ": {" + String.join(", ", items) + "}");
        }
        json.append(String.join(",", extras)).append("\n  },\n");

        // The run as a whole: the load side's headroom over every measurement of every proxy, and
        // the measurements that make it invalid.
        double maxBusy = -1;
        List<String> overLimit = new ArrayList<>();
        List<String> uncapped = new ArrayList<>();
        for (String p : proxies) {
            for (String m : LOADED) {
                Map<Integer, Double> busy = series(values, p, m + ".load_core_busy_pct");
                for (Map.Entry<Integer, Double> e : busy.entrySet()) {
                    maxBusy = Math.max(maxBusy, e.getValue());
                    if (e.getValue() > loadLimit) {
                        overLimit.add(p + " " + m + (rounds.tailSet(1).size() > 1 ? " round " + e.getKey() : "")
                                + String.format(Locale.ROOT, " %.0f%%", e.getValue()));
                    }
                }
            }
            if (errorTotal(values, p, "uncapped") > 0) {
                uncapped.add(p);
            }
        }
        List<String> reasons = new ArrayList<>();
        if (!overLimit.isEmpty()) {
            reasons.add("load core over " + num(loadLimit) + "% busy in " + String.join(", ", overLimit));
        }
        if (!uncapped.isEmpty()) {
            reasons.add("processes outside the CPU cap: " + String.join(", ", uncapped));
        }
        String summary;
        if (maxBusy < 0) {
            summary = "Load side headroom: no measurement recorded the load core; run INVALID";
            reasons.add("no measurement");
        } else {
            summary = String.format(Locale.ROOT,
                    "Load side headroom: min %.1f%% idle on the load core during proxy measurements; run ", 100 - maxBusy)
                    + (reasons.isEmpty() ? "valid" : "INVALID: " + String.join("; ", reasons));
        }
        json.append("  \"validity\": {\"loadCoreLimitPercent\": ").append(num(loadLimit))
                .append(", \"minLoadCoreIdlePercent\": ").append(maxBusy < 0 ? "null" : num(100 - maxBusy))
                .append(", \"valid\": ").append(reasons.isEmpty()).append(", \"reasons\": [");
        for (int i = 0; i < reasons.size(); i++) {
            json.append(i > 0 ? ", " : "").append(str(reasons.get(i)));
        }
        json.append("]}\n}\n");

        Files.writeString(outJson, json, StandardCharsets.UTF_8);
        System.out.print(md);
        System.out.println();
        System.out.println(summary);
    }

    /**
     * The load core's busy share per proxy and measurement: a measurement in which it exceeded the
     * limit in any round is invalid.
     */
    private record Validity(Map<String, Map<String, Map<Integer, Double>>> values, double limit) {
        /** The largest busy share over the rounds when it exceeds the limit, else null. */
        Double overLimit(String proxy, String measurement) {
            if (measurement.isEmpty()) {
                return null;
            }
            Double worst = max(series(values, proxy, measurement + ".load_core_busy_pct").values());
            return worst != null && worst > limit ? worst : null;
        }
    }

    /** The median of the per-round ratios of the proxy to the reference; null when either failed or is invalid. */
    private static Double ratio(Map<String, Map<String, Map<Integer, Double>>> values, Validity validity, Row row,
                                String proxy, String reference) {
        for (String p : List.of(proxy, reference)) {
            if (errorTotal(values, p, row.errorKey) > 0 || validity.overLimit(p, row.measurement()) != null) {
                return null;
            }
        }
        Map<Integer, Double> mine = series(values, proxy, row.key);
        Map<Integer, Double> ref = series(values, reference, row.key);
        List<Double> ratios = new ArrayList<>();
        for (Map.Entry<Integer, Double> e : mine.entrySet()) {
            Double r = ref.get(e.getKey());
            if (r != null && r != 0) {
                ratios.add(e.getValue() / r);
            }
        }
        return median(ratios);
    }

    /**
     * The verdict for one variant: "met" / "missed", judged on the ratio or on the absolute median;
     * "FAILED" or "INVALID" when the variant's measurement is, or, for a ratio, the reference's;
     * "n/a" without a value; "" for a row without a target.
     */
    private static String targetVerdict(Row row, Double ratio, Map<String, Map<String, Map<Integer, Double>>> values,
                                        Validity validity, String proxy, String reference) {
        String t = row.target;
        if (t.isEmpty()) {
            return "";
        }
        if (errorTotal(values, proxy, row.errorKey) > 0) {
            return "FAILED";
        }
        if (validity.overLimit(proxy, row.measurement()) != null) {
            return "INVALID";
        }
        boolean atMost = t.startsWith("<");
        double limit = Double.parseDouble(t.replaceAll("[^0-9.]", ""));
        Double value;
        if (t.endsWith("x")) {
            if (errorTotal(values, reference, row.errorKey) > 0) {
                return "n/a (" + reference + " FAILED)";
            }
            if (validity.overLimit(reference, row.measurement()) != null) {
                return "INVALID (" + reference + ")";
            }
            value = ratio;
        } else {
            value = median(new ArrayList<>(series(values, proxy, row.key).values()));
        }
        if (value == null) {
            return "n/a";
        }
        boolean strict = !t.contains("=");
        boolean met = atMost ? (strict ? value < limit : value <= limit) : (strict ? value > limit : value >= limit);
        return met ? "met" : "missed";
    }

    private static Double max(Iterable<Double> xs) {
        Double m = null;
        for (double x : xs) {
            m = m == null ? x : Math.max(m, x);
        }
        return m;
    }

    private static Map<Integer, Double> series(Map<String, Map<String, Map<Integer, Double>>> values, String proxy,
                                               String key) {
        return values.getOrDefault(proxy, Map.of()).getOrDefault(key, Map.of());
    }

    private static double errorTotal(Map<String, Map<String, Map<Integer, Double>>> values, String proxy, String key) {
        double sum = 0;
        for (double v : series(values, proxy, key).values()) {
            sum += v;
        }
        return sum;
    }

    private static Double median(List<Double> xs) {
        if (xs.isEmpty()) {
            return null;
        }
        List<Double> s = new ArrayList<>(xs);
        s.sort(null);
        int n = s.size();
        return n % 2 == 1 ? s.get(n / 2) : (s.get(n / 2 - 1) + s.get(n / 2)) / 2;
    }

    private static String roundsJson(Map<Integer, Double> perRound) {
        StringBuilder sb = new StringBuilder("[");
        boolean first = true;
        for (double v : perRound.values()) {
            sb.append(first ? "" : ", ").append(num(v));
            first = false;
        }
        return sb.append(']').toString();
    }

    /** Table formatting: three significant digits, no more than two decimals. */
    private static String fmt(double v) {
        double a = Math.abs(v);
        if (a >= 100) {
            return String.format(Locale.ROOT, "%.0f", v);
        }
        if (a >= 10) {
            return String.format(Locale.ROOT, "%.1f", v);
        }
        return String.format(Locale.ROOT, "%.2f", v);
    }

    private static String num(double v) {
        if (v == Math.rint(v) && Math.abs(v) < 1e15) {
            return Long.toString((long) v);
        }
        return String.format(Locale.ROOT, "%.4f", v);
    }

    private static String value(String s) {
        return s.matches("-?[0-9]{1,15}") ? s : str(s);
    }

    private static String cap(String s) {
        return s.isEmpty() ? s : Character.toUpperCase(s.charAt(0)) + s.substring(1);
    }

    private static String str(String s) {
        StringBuilder sb = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\t' -> sb.append("\\t");
                case '\r' -> sb.append("\\r");
                default -> {
                    if (c < 0x20) {
                        sb.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        return sb.append('"').toString();
    }
}
