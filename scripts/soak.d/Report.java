import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Turns the records of one soak run into markdown tables (stdout) and a JSON file.
 *
 * <p>Usage: {@code java Report RESULTS_TSV META_TSV OUT_JSON}. RESULTS_TSV has one fact a line,
 * {@code pressure/proxy<TAB>key<TAB>value}, in the order the cells ran; META_TSV has
 * {@code key<TAB>value} lines about the run. The normal traffic's log of each cell (key
 * {@code traffic_log}, lines {@code dueEpochMs endEpochMs latencyMicros kind status}) is split by
 * the cell's timestamps into three windows by due time: before the pressure
 * ({@code t_start..t_press}), during it ({@code t_press..t_press_end}) and after it
 * ({@code t_press_end..t_end}). A request counts as a success only if it is a 200 with its whole
 * body; latency percentiles are over successful requests.
 */
public final class Report {
    private static final String[] KINDS = {"status", "timeout", "reset", "closed", "connect", "short", "other"};

    /** Outcome counts and latencies of the requests due within one window. */
    private static final class Window {
        final Map<String, Integer> kinds = new TreeMap<>();
        final List<Long> okMicros = new ArrayList<>();
        final Map<Integer, Integer> statuses = new TreeMap<>();
        int total;

        void add(String kind, long micros, int status) {
            total++;
            kinds.merge(kind, 1, Integer::sum);
            if (kind.equals("ok")) {
                okMicros.add(micros);
            } else if (kind.equals("status")) {
                statuses.merge(status, 1, Integer::sum);
            }
        }

        int ok() {
            return kinds.getOrDefault("ok", 0);
        }

        Double okPct() {
            return total == 0 ? null : 100.0 * ok() / total;
        }

        Double percentileMs(double p) {
            if (okMicros.isEmpty()) {
                return null;
            }
            Collections.sort(okMicros);
            int i = (int) Math.ceil(p / 100.0 * okMicros.size()) - 1;
            return okMicros.get(Math.max(0, Math.min(okMicros.size() - 1, i))) / 1000.0;
        }

        String failures() {
            StringBuilder sb = new StringBuilder();
            for (String k : KINDS) {
                int n = kinds.getOrDefault(k, 0);
                if (n > 0) {
                    sb.append(sb.length() == 0 ? "" : ", ").append(n).append(' ').append(k);
                    if (k.equals("status")) {
                        StringBuilder codes = new StringBuilder();
                        statuses.forEach((code, c) -> codes.append(codes.length() == 0 ? "" : " ").append(code).append('x').append(c));
                        sb.append(" (").append(codes).append(')');
                    }
                }
            }
            return sb.length() == 0 ? "none" : sb.toString();
        }
    }

    public static void main(String[] args) throws IOException {
        Map<String, Map<String, String>> cells = new LinkedHashMap<>();
        for (String line : Files.readAllLines(Path.of(args[0]), StandardCharsets.UTF_8)) {
            String[] f = line.split("\t", 3);
            if (f.length == 3) {
                cells.computeIfAbsent(f[0], k -> new LinkedHashMap<>()).put(f[1], f[2]);
            }
        }
        Map<String, String> meta = new LinkedHashMap<>();
        for (String line : Files.readAllLines(Path.of(args[1]), StandardCharsets.UTF_8)) {
            String[] f = line.split("\t", 2);
            if (f.length == 2) {
                meta.put(f[0], f[1]);
            }
        }

        Map<String, Window[]> windows = new LinkedHashMap<>();
        for (var e : cells.entrySet()) {
            windows.put(e.getKey(), split(e.getValue()));
        }

        StringBuilder md = new StringBuilder();
        md.append("| pressure | proxy | normal ok % | p99 ms | p99 vs nginx | RSS MiB before / during / after"
                + " | fds before / during / after | stuck after? | OOM lines | log ERROR / WARN |\n");
        md.append("|---|---|---:|---:|---:|---|---|---|---:|---|\n");
        for (var e : cells.entrySet()) {
            Map<String, String> c = e.getValue();
            String pressure = pressureOf(e.getKey());
            String proxy = c.getOrDefault("proxy", "?");
            if (!"1".equals(c.get("started")) || !c.containsKey("t_end")) {
                String why = "1".equals(c.get("started")) ? "interrupted" : "not run: " + c.getOrDefault("start_error", "?");
                md.append(row(pressure, proxy, why, "-", "-", "-", "-", "-", "-", "-"));
                continue;
            }
            Window during = windows.get(e.getKey())[1];
            Double p99 = during.percentileMs(99);
            String ratio = "-";
            Window[] ref = windows.get(pressure + "/nginx");
            if (!proxy.equals("nginx") && ref != null && cells.get(pressure + "/nginx").containsKey("t_end")) {
                Double refP99 = ref[1].percentileMs(99);
                if (p99 != null && refP99 != null && refP99 > 0) {
                    ratio = String.format(Locale.ROOT, "%.2fx", p99 / refP99);
                }
            }
            md.append(row(pressure, proxy, pct(during.okPct()) + " (" + during.ok() + "/" + during.total + ")", num(p99), ratio,
                    mib(c.get("rss_before_kib")) + " / " + mib(c.get("rss_during_kib")) + " / " + mib(c.get("rss_after_kib")),
                    c.getOrDefault("fds_before", "?") + " / " + c.getOrDefault("fds_during", "?") + " / "
                            + c.getOrDefault("fds_after", "?"),
                    c.getOrDefault("stuck", "?"), c.getOrDefault("oom_lines", "?"),
                    c.getOrDefault("error_lines", "?") + " / " + c.getOrDefault("warn_lines", "?")));
        }
        md.append('\n');
        md.append("| pressure | proxy | failures during the pressure | ok % before / after | p99 ms before / after"
                + " | back to all-200 after | pressure client's own count |\n");
        md.append("|---|---|---|---|---|---|---|\n");
        for (var e : cells.entrySet()) {
            Map<String, String> c = e.getValue();
            if (!"1".equals(c.get("started")) || !c.containsKey("t_end")) {
                continue;
            }
            Window[] w = windows.get(e.getKey());
            String recovered = c.containsKey("recovered_ms") && !c.get("recovered_ms").isEmpty()
                    ? String.format(Locale.ROOT, "%.1f s", Long.parseLong(c.get("recovered_ms")) / 1000.0)
                    : "no, within " + c.getOrDefault("recover_limit_s", "?") + " s";
            md.append(row(pressureOf(e.getKey()), c.getOrDefault("proxy", "?"), w[1].failures(),
                    pct(w[0].okPct()) + " / " + pct(w[2].okPct()), num(w[0].percentileMs(99)) + " / " + num(w[2].percentileMs(99)),
                    recovered, c.getOrDefault("pressure_summary", "").replace("|", "/")));
        }
        System.out.print(md);

        StringBuilder json = new StringBuilder("{\n");
        for (var m : meta.entrySet()) {
            json.append("  ").append(quote(m.getKey())).append(": ").append(quote(m.getValue())).append(",\n");
        }
        json.append("  \"cells\": [");
        boolean first = true;
        for (var e : cells.entrySet()) {
            json.append(first ? "\n" : ",\n").append("    {");
            first = false;
            json.append("\"pressure\": ").append(quote(pressureOf(e.getKey())));
            for (var f : e.getValue().entrySet()) {
                json.append(", ").append(quote(f.getKey())).append(": ").append(value(f.getValue()));
            }
            Window[] w = windows.get(e.getKey());
            String[] names = {"before", "during", "after"};
            json.append(", \"traffic\": {");
            for (int i = 0; i < 3; i++) {
                json.append(i == 0 ? "" : ", ").append(quote(names[i])).append(": ").append(windowJson(w[i]));
            }
            json.append("}}");
        }
        json.append("\n  ]\n}\n");
        Files.writeString(Path.of(args[2]), json, StandardCharsets.UTF_8);
    }

    private static String pressureOf(String cell) {
        return cell.substring(0, cell.indexOf('/'));
    }

    /** The before / during / after windows of one cell's traffic log. */
    private static Window[] split(Map<String, String> c) throws IOException {
        Window[] w = {new Window(), new Window(), new Window()};
        String log = c.get("traffic_log");
        if (log == null || !Files.exists(Path.of(log))) {
            return w;
        }
        long press = parse(c.get("t_press"), Long.MAX_VALUE);
        long pressEnd = parse(c.get("t_press_end"), Long.MAX_VALUE);
        long end = parse(c.get("t_end"), Long.MAX_VALUE);
        for (String line : Files.readAllLines(Path.of(log), StandardCharsets.UTF_8)) {
            String[] f = line.trim().split(" ");
            if (f.length != 5) {
                continue;
            }
            long due = Long.parseLong(f[0]);
            int i = due < press ? 0 : due < pressEnd ? 1 : due < end ? 2 : -1;
            if (i >= 0) {
                w[i].add(f[3], Long.parseLong(f[2]), Integer.parseInt(f[4]));
            }
        }
        return w;
    }

    private static long parse(String s, long otherwise) {
        try {
            return Long.parseLong(s);
        } catch (RuntimeException e) {
            return otherwise;
        }
    }

    private static String windowJson(Window w) {
        StringBuilder sb = new StringBuilder("{\"requests\": ").append(w.total).append(", \"ok\": ").append(w.ok());
        sb.append(", \"okPct\": ").append(jsonNum(w.okPct()));
        sb.append(", \"p50Ms\": ").append(jsonNum(w.percentileMs(50)));
        sb.append(", \"p99Ms\": ").append(jsonNum(w.percentileMs(99)));
        sb.append(", \"maxMs\": ").append(jsonNum(w.percentileMs(100)));
        sb.append(", \"failures\": {");
        boolean first = true;
        for (String k : KINDS) {
            sb.append(first ? "" : ", ").append(quote(k)).append(": ").append(w.kinds.getOrDefault(k, 0));
            first = false;
        }
        sb.append("}, \"statuses\": {");
        first = true;
        for (var s : w.statuses.entrySet()) {
            sb.append(first ? "" : ", ").append(quote(String.valueOf(s.getKey()))).append(": ").append(s.getValue());
            first = false;
        }
        return sb.append("}}").toString();
    }

    private static String row(String... cols) {
        return "| " + String.join(" | ", cols) + " |\n";
    }

    private static String pct(Double v) {
        return v == null ? "-" : String.format(Locale.ROOT, "%.1f", v);
    }

    private static String num(Double v) {
        return v == null ? "-" : v >= 100 ? String.format(Locale.ROOT, "%.0f", v) : String.format(Locale.ROOT, "%.1f", v);
    }

    private static String mib(String kib) {
        try {
            return String.format(Locale.ROOT, "%.0f", Long.parseLong(kib) / 1024.0);
        } catch (RuntimeException e) {
            return "?";
        }
    }

    private static String jsonNum(Double v) {
        return v == null ? "null" : String.format(Locale.ROOT, "%.3f", v);
    }

    /** A number stays a number in the JSON; anything else becomes a string. */
    private static String value(String v) {
        return v.matches("-?(0|[1-9][0-9]{0,17})(\\.[0-9]+)?") ? v : quote(v);
    }

    private static String quote(String s) {
        StringBuilder sb = new StringBuilder("\"");
        for (char ch : s.toCharArray()) {
            switch (ch) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\t' -> sb.append("\\t");
                case '\r' -> sb.append("\\r");
                default -> {
                    if (ch < 0x20) {
                        sb.append(String.format("\\u%04x", (int) ch));
                    } else {
                        sb.append(ch);
                    }
                }
            }
        }
        return sb.append('"').toString();
    }
}
