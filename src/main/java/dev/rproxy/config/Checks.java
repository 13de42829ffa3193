package dev.rproxy.config;

import java.util.List;
import java.util.stream.Collectors;

/**
 * Validation shared by the config records. Messages name the field relative to its record
 * ({@code port: 70000 (expected: 0..65535)}); the loader puts the section path in front.
 */
final class Checks {

    private static final int MAX_QUOTED_CHARS = 100;

    private Checks() {
    }

    static int atLeast(String name, int value, int min) {
        if (value < min) {
            throw new ConfigException(name + ": " + value + " (expected: >= " + min + ")");
        }
        return value;
    }

    static long atLeast(String name, long value, long min) {
        if (value < min) {
            throw new ConfigException(name + ": " + value + " (expected: >= " + min + ")");
        }
        return value;
    }

    static int between(String name, int value, int min, int max) {
        if (value < min || value > max) {
            throw new ConfigException(name + ": " + value + " (expected: " + min + ".." + max + ")");
        }
        return value;
    }

    static <T> T required(String name, T value) {
        if (value == null) {
            throw new ConfigException(name + ": required");
        }
        return value;
    }

    /** A non-empty string without whitespace or control characters (host names, ids). */
    static String token(String name, String value) {
        required(name, value);
        if (value.isEmpty() || value.chars().anyMatch(c -> c <= ' ' || c == 0x7f || Character.isWhitespace(c))) {
            throw new ConfigException(name + ": " + quote(value)
                    + " (expected: non-empty, no spaces or control characters)");
        }
        return value;
    }

    static String oneOf(String name, String value, List<String> allowed) {
        required(name, value);
        if (!allowed.contains(value)) {
            throw new ConfigException(name + ": " + quote(value) + " (expected: one of "
                    + allowed.stream().map(Checks::quote).collect(Collectors.joining(", ")) + ")");
        }
        return value;
    }

    /**
     * Quotes a string for a one-line message: JSON-style escapes for quotes, backslashes and
     * control characters, and long values cut short.
     */
    static String quote(String value) {
        StringBuilder out = new StringBuilder(Math.min(value.length(), MAX_QUOTED_CHARS) + 8).append('"');
        for (int i = 0; i < value.length(); i++) {
            if (i == MAX_QUOTED_CHARS) {
                out.append("...");
                break;
            }
            char c = value.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (c < ' ' || c == 0x7f || Character.isISOControl(c)) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        return out.append('"').toString();
    }

    /** An HTTP field name: a token (RFC 9110 section 5.1). */
    static String fieldName(String name, String value) {
        required(name, value);
        if (!isToken(value)) {
            throw new ConfigException(name + ": " + quote(value) + " (expected: a header field name)");
        }
        return value;
    }

    /** An HTTP field value: visible ASCII, spaces and tabs inside, none at either end (RFC 9110 section 5.5). */
    static String fieldValue(String name, String value) {
        required(name, value);
        boolean ok = value.chars().allMatch(c -> c == '\t' || (c >= ' ' && c < 0x7f))
                && (value.isEmpty() || (value.charAt(0) > ' ' && value.charAt(value.length() - 1) > ' '));
        if (!ok) {
            throw new ConfigException(name + ": " + quote(value) + " (expected: visible ASCII, no space at either end)");
        }
        return value;
    }

    /** A token (RFC 9110 section 5.6.2): field names, methods. */
    static boolean isToken(String value) {
        if (value.isEmpty()) {
            return false;
        }
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            boolean tchar = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                    || "!#$%&'*+-.^_`|~".indexOf(c) >= 0;
            if (!tchar) {
                return false;
            }
        }
        return true;
    }
}
