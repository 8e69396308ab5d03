/// The typed fields of one event, as the feature engine reads them.
///
/// One value is reused for every event of a stream: the decoder overwrites it in
/// place, so decoding allocates nothing beyond strings longer than 15 bytes.
public struct DecodedEvent: Sendable {
    /// The event identifier (the `id_field`, integers in decimal).
    public var id: String = ""
    /// The event time, epoch milliseconds.
    public var time: Int64 = 0
    /// Per declared field: whether the event carries it (non-null).
    public var present: [Bool]
    /// Per declared field: the numeric value (numbers, integers, booleans as 1/0,
    /// timestamps as epoch ms); NaN for strings and absent fields.
    public var numbers: [Double]
    /// Per declared field: the text of string fields and the decimal text of
    /// integer fields (for entity keys and encodings); `nil` otherwise.
    public var strings: [String?]

    /// An empty event for a type with `fieldCount` declared fields.
    public init(fieldCount: Int) {
        present = Array(repeating: false, count: fieldCount)
        numbers = Array(repeating: .nan, count: fieldCount)
        strings = Array(repeating: nil, count: fieldCount)
    }

    mutating func reset() {
        // Whole buffers: element by element, each write checked the array's
        // uniqueness again.
        present.withUnsafeMutableBufferPointer { $0.update(repeating: false) }
        numbers.withUnsafeMutableBufferPointer { $0.update(repeating: .nan) }
        strings.withUnsafeMutableBufferPointer { $0.update(repeating: nil) }
    }
}

/// A ``DecodedEvent``'s fields as the feature engine's inner loops read them:
/// plain pointers, so handing the event from one function to the next costs
/// no reference counting. Valid only inside ``DecodedEvent/withFields(_:)``.
struct EventFields {
    let time: Int64
    let present: UnsafeBufferPointer<Bool>
    let numbers: UnsafeBufferPointer<Double>
    let strings: UnsafeBufferPointer<String?>
}

extension DecodedEvent {
    /// Runs `body` with the event's fields.
    @inline(__always)
    func withFields<R>(_ body: (EventFields) -> R) -> R {
        present.withUnsafeBufferPointer { present in
            numbers.withUnsafeBufferPointer { numbers in
                strings.withUnsafeBufferPointer { strings in
                    body(EventFields(time: time, present: present, numbers: numbers, strings: strings))
                }
            }
        }
    }
}
