#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads model files from disk and recognises their format.
public enum ModelFile {
    /// Recognises the format from the first bytes: JSON text is XGBoost, a
    /// `tree` header line is LightGBM. UBJSON (XGBoost's binary format) is
    /// recognised only to be refused with a way out.
    public static func detectFormat(_ bytes: [UInt8]) throws(ModelLoadError) -> ModelFormat {
        var i = 0
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
        guard i < bytes.count else { throw ModelLoadError.unknownFormat("the file is empty") }
        if bytes[i] == UInt8(ascii: "{") {
            var j = i + 1
            while j < bytes.count, bytes[j] == 0x20 || bytes[j] == 0x0A || bytes[j] == 0x0D || bytes[j] == 0x09 { j += 1 }
            if j < bytes.count, bytes[j] == UInt8(ascii: "\"") || bytes[j] == UInt8(ascii: "}") { return .xgboostJSON }
            throw ModelLoadError.unknownFormat("this looks like XGBoost's binary UBJSON format; save the model with save_model(\"model.json\")")
        }
        if bytes[i...].starts(with: Array("tree".utf8)) { return .lightgbmText }
        throw ModelLoadError.unknownFormat("expected XGBoost JSON ('{') or LightGBM text ('tree' on the first line)")
    }

    /// Parses model bytes in the given or detected format.
    public static func load(bytes: [UInt8], format: ModelFormat? = nil) throws(ModelLoadError) -> TreeEnsemble {
        let resolved: ModelFormat
        if let format { resolved = format } else { resolved = try detectFormat(bytes) }
        switch resolved {
        case .xgboostJSON: return try XGBoostModelLoader.load(bytes: bytes)
        case .lightgbmText: return try LightGBMModelLoader.load(bytes: bytes)
        }
    }

    /// Reads and parses a model file.
    public static func load(path: String, format: ModelFormat? = nil) throws(ModelLoadError) -> TreeEnsemble {
        try load(bytes: try readFile(path), format: format)
    }

    /// The whole content of a file.
    public static func readFile(_ path: String) throws(ModelLoadError) -> [UInt8] {
        guard let file = fopen(path, "rb") else {
            throw ModelLoadError.unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            if n > 0 { bytes.append(contentsOf: chunk[0..<n]) }
            if n < chunk.count {
                if ferror(file) != 0 { throw ModelLoadError.unreadable(path: path, reason: "read error") }
                break
            }
        }
        return bytes
    }
}
