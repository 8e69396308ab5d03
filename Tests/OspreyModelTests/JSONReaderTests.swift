import Testing
import OspreyJSON
@testable import OspreyModel

@Suite("JSONReader")
struct JSONReaderTests {
    @Test("parses nested documents and XGBoost-style numbers")
    func parsesDocuments() throws {
        let value = try JSONReader.parse(Array(#"{"a":[1,-2.5e-3,5E-1],"b":{"c":"x\u00e9\n"},"d":true,"e":null}"#.utf8))
        #expect(value["a"]?.arrayValue?.compactMap(\.numberValue) == [1, -0.0025, 0.5])
        #expect(value["b"]?["c"]?.stringValue == "xé\n")
        #expect(value["d"] == .bool(true))
        #expect(value["e"] == .null)
    }

    @Test("rejects what JSON does not allow", arguments: ["", "{", "[1,]", "01", "+1", "1.", "nan", "\"\\x\"", "{\"a\" 1}", "[1] x"])
    func rejectsInvalid(_ text: String) {
        #expect(throws: JSONSyntaxError.self) { try JSONReader.parse(Array(text.utf8)) }
    }

    @Test("limits nesting depth instead of overflowing the stack")
    func limitsDepth() {
        let deep = String(repeating: "[", count: 100_000)
        #expect(throws: JSONSyntaxError.self) { try JSONReader.parse(Array(deep.utf8)) }
    }
}
