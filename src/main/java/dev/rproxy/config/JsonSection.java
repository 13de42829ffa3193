package dev.rproxy.config;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;
import java.util.function.Function;

/**
 * One JSON object of the configuration, read key by key with its JSON path: a missing key takes
 * the caller's default, every other problem is a {@link ConfigException} naming the path and
 * speaking in JSON terms ({@code listen.port: expected an integer, got "80"}, {@code
 * healthCheck.intervalMS: unknown key (known: ...)}). An explicit {@code null} is an error, never a
 * default.
 */
final class JsonSection {
    private static final BigInteger INT_MIN = BigInteger.valueOf(Integer.MIN_VALUE);
    private static final BigInteger INT_MAX = BigInteger.valueOf(Integer.MAX_VALUE);
    private static final BigInteger LONG_MIN = BigInteger.valueOf(Long.MIN_VALUE);
    private static final BigInteger LONG_MAX = BigInteger.valueOf(Long.MAX_VALUE);

    private final String path;
    private final Map<String, Object> fields;

    private JsonSection(String path, Map<String, Object> fields) {
        this.path = path;
        this.fields = fields;
    }

    /** The top-level object, whose keys must be among {@code known}. */
    static JsonSection root(Map<String, Object> fields, String... known) {
        return new JsonSection("", fields).only(known);
    }

    /** The object under {@code key}, its keys among {@code known}; {@code null} when the key is absent. */
    JsonSection section(String key, String... known) {
        Object value = fields.get(key);
        return value == null ? null : object(pathOf(key), value, known);
    }

    /** The array under {@code key}, each element read by {@code element}; {@code null} when absent. */
    <T> List<T> list(String key, Function<Element, T> element) {
        Object value = fields.get(key);
        if (value == null) {
            return null;
        }
        String at = pathOf(key);
        if (!(value instanceof List<?> array)) {
            throw mismatch(at, "an array", value);
        }
        List<T> result = new ArrayList<>(array.size());
        for (int i = 0; i < array.size(); i++) {
            result.add(element.apply(new Element(at + "[" + i + "]", array.get(i))));
        }
        return result;
    }

    /**
     * The object under {@code key} whose keys are names the user chose (upstreams by name, header
     * fields), each value read by {@code element} with its name; in document order, {@code null}
     * when absent.
     */
    <T> Map<String, T> named(String key, BiFunction<String, Element, T> element) {
        Object value = fields.get(key);
        if (value == null) {
            return null;
        }
        String at = pathOf(key);
        if (!(value instanceof Map<?, ?> object)) {
            throw mismatch(at, "an object", value);
        }
        Map<String, T> result = new LinkedHashMap<>();
        for (Map.Entry<?, ?> entry : object.entrySet()) {
            String name = (String) entry.getKey();
            result.put(name, element.apply(name, new Element(at + "." + name, entry.getValue())));
        }
        return result;
    }

    /**
     * One object or an array of them under {@code key} (as {@code listen} may be), each read by
     * {@code element}; a lone object's path is the key's, an element's has its index. {@code null}
     * when absent.
     */
    <T> List<T> oneOrList(String key, Function<Element, T> element) {
        Object value = fields.get(key);
        if (value instanceof Map) {
            return List.of(element.apply(new Element(pathOf(key), value)));
        }
        if (value != null && !(value instanceof List)) {
            throw mismatch(pathOf(key), "an object or an array", value);
        }
        return list(key, element);
    }

    /** Whether the section has {@code key} (for a value whose absence means something of its own). */
    boolean has(String key) {
        return fields.containsKey(key);
    }

    String string(String key, String fallback) {
        Object value = fields.get(key);
        return value == null ? fallback : string(pathOf(key), value);
    }

    boolean bool(String key, boolean fallback) {
        Object value = fields.get(key);
        if (value == null) {
            return fallback;
        }
        if (!(value instanceof Boolean b)) {
            throw mismatch(pathOf(key), "a boolean", value);
        }
        return b;
    }

    int integer(String key, int fallback) {
        Object value = fields.get(key);
        return value == null ? fallback : integral(pathOf(key), value, INT_MIN, INT_MAX).intValue();
    }

    long longInteger(String key, long fallback) {
        Object value = fields.get(key);
        return value == null ? fallback : integral(pathOf(key), value, LONG_MIN, LONG_MAX).longValue();
    }

    /**
     * Builds the value of this section; a message of what {@code build} throws that is relative to
     * the section ({@code port: ...}, from a record's checks) gets the section's path.
     */
    <T> T build(Function<JsonSection, T> build) {
        try {
            return build.apply(this);
        } catch (ConfigException e) {
            throw e.within(path);
        }
    }

    /** An element of an array, by its path. */
    record Element(String path, Object value) {
        JsonSection section(String... known) {
            return object(path, value, known);
        }

        String string() {
            return JsonSection.string(path, value);
        }

    }

    // ---------------------------------------------------------------- helpers

    private JsonSection only(String... known) {
        for (String key : fields.keySet()) {
            if (!List.of(known).contains(key)) {
                throw ConfigException.at(pathOf(key), "unknown key (known: " + String.join(", ", known) + ")");
            }
        }
        return this;
    }

    private String pathOf(String key) {
        return path.isEmpty() ? key : path + "." + key;
    }

    private static JsonSection object(String path, Object value, String... known) {
        if (!(value instanceof Map)) {
            throw mismatch(path, "an object", value);
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> fields = (Map<String, Object>) value;
        return new JsonSection(path, fields).only(known);
    }

    private static String string(String path, Object value) {
        if (!(value instanceof String s)) {
            throw mismatch(path, "a string", value);
        }
        return s;
    }

    private static BigInteger integral(String path, Object value, BigInteger min, BigInteger max) {
        if (!(value instanceof JsonTree.Number number) || !number.integral()) {
            throw mismatch(path, "an integer", value);
        }
        BigInteger n = new BigInteger(number.text());
        if (n.compareTo(min) < 0 || n.compareTo(max) > 0) {
            throw ConfigException.at(path, number.text() + " (expected: " + min + ".." + max + ")");
        }
        return n;
    }

    private static ConfigException mismatch(String path, String expected, Object value) {
        return ConfigException.at(path, "expected " + expected + ", got " + JsonTree.describe(value));
    }
}
