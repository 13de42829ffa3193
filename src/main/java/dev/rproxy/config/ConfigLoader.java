package dev.rproxy.config;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.cfg.CoercionAction;
import com.fasterxml.jackson.databind.cfg.CoercionInputShape;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Objects;

/**
 * Reads config.json into a {@link ProxyConfig}. Strict on purpose: unknown keys, duplicate keys,
 * explicit {@code null}s, strings where numbers belong, fractions where integers belong and
 * trailing content are all errors, so a typo never silently falls back to a default.
 *
 * <p>Messages: I/O and syntax problems start with the file name ({@code config.json: no such
 * file}, {@code config.json: invalid JSON at line 3, column 7: ...}); problems with a value start
 * with its JSON path ({@code pool.maxConnectionsPerBackend: 0 (expected: >= 1)}). {@link #parse}
 * has no file name, so its syntax messages start with {@code invalid JSON}.
 */
public final class ConfigLoader {

    private static final JsonMapper MAPPER = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT)
            .disable(MapperFeature.ALLOW_COERCION_OF_SCALARS)
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .withCoercionConfigDefaults(config -> {
                config.setAcceptBlankAsEmpty(false);
                for (CoercionInputShape shape : CoercionInputShape.values()) {
                    config.setCoercion(shape, CoercionAction.Fail);
                }
            })
            .build();

    private static final ObjectReader ROOT_READER = MAPPER.readerFor(ConfigJson.Root.class);

    private ConfigLoader() {
    }

    /** Reads and parses {@code file} (UTF-8). */
    public static ProxyConfig load(Path file) {
        String name = file.toString();
        return parse(read(file, name), name + ": ");
    }

    /** Parses a configuration document. */
    public static ProxyConfig parse(String json) {
        return parse(Objects.requireNonNull(json, "json"), "");
    }

    private static ProxyConfig parse(String json, String sourcePrefix) {
        JsonNode tree = readTree(json, sourcePrefix);
        JsonErrors.rejectNulls(tree, ConfigJson.Root.class, "");
        ConfigJson.Root root;
        try {
            root = ROOT_READER.readValue(tree);
        } catch (JsonMappingException e) {
            throw JsonErrors.binding(e, tree, ConfigJson.Root.class);
        } catch (IOException e) {
            throw new ConfigException(sourcePrefix + "invalid configuration", e);
        }
        return root.toConfig();
    }

    private static JsonNode readTree(String json, String sourcePrefix) {
        // RFC 8259 §8.1: a byte order mark is not part of the JSON text, parsers may ignore one.
        String text = json.startsWith("\uFEFF") ? json.substring(1) : json;
        JsonNode tree;
        try {
            tree = MAPPER.readTree(text);
        } catch (JacksonException e) {
            throw JsonErrors.syntax(sourcePrefix, e);
        }
        if (tree == null || tree.isMissingNode()) {
            throw new ConfigException(sourcePrefix + "invalid JSON: empty document");
        }
        if (!tree.isObject()) {
            throw new ConfigException(sourcePrefix + "expected a JSON object at the top level, got "
                    + JsonErrors.describe(tree));
        }
        return tree;
    }

    private static String read(Path file, String name) {
        if (Files.isDirectory(file)) {
            throw new ConfigException(name + ": is a directory");
        }
        try {
            return Files.readString(file);
        } catch (NoSuchFileException e) {
            throw new ConfigException(name + ": no such file", e);
        } catch (AccessDeniedException e) {
            throw new ConfigException(name + ": permission denied", e);
        } catch (CharacterCodingException e) {
            throw new ConfigException(name + ": not valid UTF-8", e);
        } catch (IOException e) {
            // FileSystemException's message repeats the path; its reason alone is the useful part.
            String reason = e instanceof FileSystemException fse ? fse.getReason() : e.getMessage();
            throw new ConfigException(name + ": cannot read (" + Objects.requireNonNullElse(reason, "I/O error") + ")", e);
        }
    }
}
