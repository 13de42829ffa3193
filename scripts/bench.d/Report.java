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
 */
public final class Report {

    /** One row of the table. {@code errorKey} names the error count that invalidates it. */
    private record Row(String key, String label, String unit, boolean higherIsBetter, String errorKey,
                       String target, boolean info) {
        Row(String key, String label, String unit, boolean higherIsBetter, String errorKey, String target) {
            this(key, label, unit, higherIsBetter, errorKey, target, false);
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
            new Row("c512.peak_rss_mib", "Small GET, 512 conns: peak RSS", "MiB", false, "c512.errors", "<= 160 MiB"),
            new Row("get1m.mibs", "1 MiB GET, 8 conns: throughput", "MiB/s", true, "get1m.errors", ">= 0.9x"),
            new Row("down.mibs", "{transfer} download: throughput", "MiB/s", true, "down.errors", ">= 0.9x"),
            new Row("down.peak_rss_mib", "{transfer} download: peak RSS", "MiB", false, "down.errors", ""),
            new Row("down.rss_growth_mib", "{transfer} download: RSS growth", "MiB", false, "down.errors", "< 8 MiB"),
            new Row("up.mibs", "{transfer} upload: throughput", "MiB/s", true, "up.errors", ">= 0.9x"),
            new Row("up.peak_rss_mib", "{transfer} upload: peak RSS", "MiB", false, "up.errors", ""),
            new Row("up.rss_growth_mib", "{transfer} upload: RSS growth", "MiB", false, "up.errors", "< 8 MiB"),
            new Row("idle_rss_mib", "Idle RSS after start", "MiB", false, "ready.errors", ""),
            new Row("conn.kib_per_conn", "Memory per idle client connection (10k open)", "KiB", false, "conn.errors",
                    "<= 20 KiB"),
            new Row("ready_ms", "Time to ready (start to first 200)", "ms", false, "ready.errors", "<= 1500 ms"),
            // Conditions of the run rather than results: how busy the load-generator core was
            // (near 100%: the origins or wrk may have limited the rate) and how much of the
            // proxy's core went to other processes of the machine.
            new Row("c64.load_core_busy_pct", "Check: load core busy during small GET c64", "%", false,
                    "c64.errors", "", true),
            new Row("c64.proxy_core_other_pct", "Check: proxy core used by other processes, c64", "%", false,
                    "c64.errors", "", true),
            new Row("restarts", "Check: proxy exits during the run (restarted)", "count", false, "", "", true));

    /** Sanity measurements that go into the JSON only. */
    private static final List<String> EXTRA_KEYS = List.of(
            "c64.requests", "c512.requests", "get1m.requests",
            "c64.proxy_core_busy_pct", "c64.load_core_busy_pct", "c64.proxy_cpu_pct",
            "c512.proxy_core_busy_pct", "c512.load_core_busy_pct", "c512.proxy_cpu_pct",
            "get1m.proxy_core_busy_pct", "get1m.load_core_busy_pct", "get1m.proxy_cpu_pct",
            "down.seconds", "up.seconds", "conn.opened", "conn.rss_before_mib", "conn.rss_with_conns_mib");

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
        StringBuilder md = new StringBuilder();
        md.append("| Workload | unit |");
        for (String p : proxies) {
            md.append(' ').append(p).append(" |");
        }
        for (String p : proxies.subList(1, proxies.size())) {
            md.append(' ').append(p).append(" / ").append(reference).append(" |");
        }
        md.append(" target (").append(proxies.get(proxies.size() - 1)).append(") |\n|---|---|");
        md.append("---:|".repeat(proxies.size() * 2 - 1)).append("---|\n");

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
        json.append("],\n  \"roundsCompleted\": ").append(rounds.size()).append(",\n  \"metrics\": [\n");

        List<String> jsonRows = new ArrayList<>();
        for (Row template : ROWS) {
            Row row = new Row(template.key, template.label.replace("{transfer}", transfer), template.unit,
                    template.higherIsBetter, template.errorKey, template.target, template.info);
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
                Double median = row.key.equals("restarts")
                        ? Double.valueOf(errorTotal(values, p, "restarts"))
                        : median(new ArrayList<>(perRound.values()));
                String cell;
                if (errors > 0) {
                    cell = "FAILED (" + num(errors) + (errors == 1 ? " error)" : " errors)");
                } else if (median == null) {
                    cell = "n/a";
                } else {
                    cell = row.unit.equals("count") ? num(median) : fmt(median);
                }
                md.append(' ').append(cell).append(" |");
                jr.append(i > 0 ? ", " : "").append(str(p)).append(": {\"median\": ")
                        .append(errors > 0 || median == null ? "null" : num(median))
                        .append(", \"failed\": ").append(errors > 0).append(", \"errors\": ").append(num(errors))
                        .append(", \"rounds\": ").append(roundsJson(perRound)).append('}');
            }
            jr.append("},\n      \"ratiosTo").append(cap(reference)).append("\": {");
            String lastCell = "";
            for (int i = 1; i < proxies.size(); i++) {
                String p = proxies.get(i);
                Double ratio = null;
                if (!row.info && errorTotal(values, p, row.errorKey) == 0 && errorTotal(values, reference, row.errorKey) == 0) {
                    Map<Integer, Double> mine = series(values, p, row.key);
                    Map<Integer, Double> ref = series(values, reference, row.key);
                    List<Double> ratios = new ArrayList<>();
                    for (Map.Entry<Integer, Double> e : mine.entrySet()) {
                        Double r = ref.get(e.getKey());
                        if (r != null && r != 0) {
                            ratios.add(e.getValue() / r);
                        }
                    }
                    ratio = median(ratios);
                }
                String cell = ratio == null ? "-" : String.format(Locale.ROOT, "%.2fx", ratio);
                md.append(' ').append(cell).append(" |");
                jr.append(i > 1 ? ", " : "").append(str(p)).append(": ").append(ratio == null ? "null" : num(ratio));
                if (i == proxies.size() - 1) {
                    lastCell = targetVerdict(row, ratio, values, p);
                }
            }
            md.append(' ').append(row.target.isEmpty() ? "" : row.target + lastCell).append(" |\n");
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
        json.append(String.join(",", extras)).append("\n  }\n}\n");

        Files.writeString(outJson, json, StandardCharsets.UTF_8);
        System.out.print(md);
    }

    /** " (met)" / " (missed)" for the last proxy, judged on the ratio or on the absolute median. */
    private static String targetVerdict(Row row, Double ratio, Map<String, Map<String, Map<Integer, Double>>> values,
                                        String proxy) {
        String t = row.target;
        if (t.isEmpty()) {
            return "";
        }
        boolean atMost = t.startsWith("<");
        double limit = Double.parseDouble(t.replaceAll("[^0-9.]", ""));
        Double value;
        if (t.endsWith("x")) {
            value = ratio;
        } else {
            value = errorTotal(values, proxy, row.errorKey) > 0
                    ? null : median(new ArrayList<>(series(values, proxy, row.key).values()));
        }
        if (value == null) {
            return "";
        }
        boolean strict = !t.contains("=");
        boolean met = atMost ? (strict ? value < limit : value <= limit) : (strict ? value > limit : value >= limit);
        return met ? " (met)" : " (missed)";
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
