package dev.rproxy.config;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonMappingException.Reference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.RecordComponent;
import java.lang.reflect.Type;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Turns Jackson's exceptions into one-line {@link ConfigException} messages that name the JSON
 * path and speak in JSON terms (integer, string, object), never in Java class names; also finds
 * explicit {@code null}s, which binding alone cannot tell from missing keys.
 *
 * <p>What a path should hold is read from the {@link ConfigJson} records: each component's
 * name is a key and its type gives the expected JSON type.
 */
final class JsonErrors {

    /** Jackson's syntax messages continue with parser internals from these markers on. */
    private static final List<String> REASON_CUTS = List.of(
            " (start marker at", ": enable `", " (not recognized as one since", " [Source", "; line:", "`");

    private JsonErrors() {
    }

    static ConfigException syntax(String sourcePrefix, JacksonException e) {
        JsonLocation location = e.getLocation();
        String where = location == null || location.getLineNr() < 1 ? ""
                : " at line " + location.getLineNr() + ", column " + location.getColumnNr();
        return new ConfigException(sourcePrefix + "invalid JSON" + where + ": " + reason(e), e);
    }

    /** A short reason: Jackson's message, first line, without location or feature names. */
    private static String reason(JacksonException e) {
        if (e instanceof JsonMappingException) {
            // While reading a tree the only mapping-level failure is FAIL_ON_TRAILING_TOKENS.
            return "unexpected content after the top-level object";
        }
        String message = e instanceof JsonProcessingException p ? p.getOriginalMessage() : e.getMessage();
        message = message == null ? "" : message.lines().findFirst().orElse("");
        message = message.replaceAll(", from `[^`]*`", "");
        for (String cut : REASON_CUTS) {
            int at = message.indexOf(cut);
            if (at >= 0) {
                message = message.substring(0, at);
            }
        }
        message = message.strip();
        return message.isEmpty() ? "malformed" : message;
    }

    /** Rejects explicit {@code null}s, which would otherwise look like missing keys and take defaults. */
    static void rejectNulls(JsonNode node, Type type, String path) {
        if (node.isNull()) {
            throw new ConfigException(path + ": expected " + expected(type) + ", got null");
        }
        if (node.isObject()) {
            for (Map.Entry<String, JsonNode> field : node.properties()) {
                Type child = componentType(type, field.getKey());
                if (child != null) {
                    rejectNulls(field.getValue(), child, path.isEmpty() ? field.getKey() : path + "." + field.getKey());
                }
            }
        } else if (node.isArray() && type instanceof ParameterizedType list) {
            for (int i = 0; i < node.size(); i++) {
                rejectNulls(node.get(i), list.getActualTypeArguments()[0], path + "[" + i + "]");
            }
        }
    }

    static ConfigException binding(JsonMappingException e, JsonNode tree, Type rootType) {
        List<Reference> path = e.getPath();
        String name = pathString(path);
        if (e instanceof UnrecognizedPropertyException u) {
            return new ConfigException(name + ": unknown key (known: " + knownKeys(u.getReferringClass()) + ")", e);
        }
        JsonNode node = tree;
        Type type = rootType;
        for (Reference ref : path) {
            boolean field = ref.getFieldName() != null;
            node = node == null ? null : field ? node.get(ref.getFieldName()) : node.get(ref.getIndex());
            type = field ? componentType(type, ref.getFieldName()) : elementType(type);
        }
        if (node != null && node.isIntegralNumber() && (type == Integer.class || type == Long.class)) {
            String range = type == Integer.class
                    ? Integer.MIN_VALUE + ".." + Integer.MAX_VALUE : Long.MIN_VALUE + ".." + Long.MAX_VALUE;
            return new ConfigException(name + ": " + node + " (expected: " + range + ")", e);
        }
        return new ConfigException(name + ": expected " + expected(type) + ", got " + describe(node), e);
    }

    /** A JSON value as a message shows it: strings quoted, objects and arrays by kind. */
    static String describe(JsonNode node) {
        if (node == null || node.isMissingNode()) {
            return "nothing";
        }
        if (node.isObject()) {
            return "an object";
        }
        if (node.isArray()) {
            return "an array";
        }
        if (node.isTextual()) {
            return Checks.quote(node.textValue());
        }
        return node.toString();
    }

    private static String expected(Type type) {
        if (type == Integer.class || type == Long.class) {
            return "an integer";
        }
        if (type == Boolean.class) {
            return "a boolean";
        }
        if (type == String.class) {
            return "a string";
        }
        if (type instanceof ParameterizedType) {
            return "an array";
        }
        return type instanceof Class<?> c && c.isRecord() ? "an object" : "a valid value";
    }

    private static Type componentType(Type type, String key) {
        if (type instanceof Class<?> c && c.isRecord()) {
            for (RecordComponent component : c.getRecordComponents()) {
                if (component.getName().equals(key)) {
                    return component.getGenericType();
                }
            }
        }
        return null;
    }

    private static Type elementType(Type type) {
        return type instanceof ParameterizedType list ? list.getActualTypeArguments()[0] : null;
    }

    private static String knownKeys(Class<?> type) {
        RecordComponent[] components = type.getRecordComponents();
        return components == null ? ""
                : Arrays.stream(components).map(RecordComponent::getName).collect(Collectors.joining(", "));
    }

    private static String pathString(List<Reference> path) {
        StringBuilder out = new StringBuilder();
        for (Reference ref : path) {
            if (ref.getFieldName() != null) {
                if (out.length() > 0) {
                    out.append('.');
                }
                out.append(ref.getFieldName());
            } else {
                out.append('[').append(ref.getIndex()).append(']');
            }
        }
        return out.toString();
    }
}
