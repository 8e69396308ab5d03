import Dispatch
import Foundation

/// The wall-clock time of a monotonic reading, from an anchor pair of both
/// clocks taken now and then.
///
/// Each decision carries its processing time and feeds the end-to-end latency
/// histogram, both wall-clock figures; reading the wall clock as well as the
/// monotonic one per event made its third clock read. Anchored every turn of
/// the stream loop (at most 1,024 events or one 50 ms poll), the derived time
/// is off by the clocks' drift over that span (microseconds under NTP's 500
/// ppm slew limit), and a step of the wall clock shows from the next turn on.
struct WallClock {
    /// Seconds since 1970 at the anchor.
    private(set) var anchorSeconds: Double
    /// `DispatchTime`'s uptime nanoseconds at the anchor.
    private(set) var anchorUptime: UInt64

    /// A clock anchored now.
    init() {
        anchorSeconds = 0
        anchorUptime = 0
        anchor()
    }

    /// Takes a new anchor pair.
    mutating func anchor() {
        anchorUptime = DispatchTime.now().uptimeNanoseconds
        anchorSeconds = Date().timeIntervalSince1970
    }

    /// Seconds since 1970 at `uptimeNanoseconds` (a `DispatchTime` reading).
    @inline(__always)
    func seconds(at uptimeNanoseconds: UInt64) -> Double {
        anchorSeconds + Double(Int64(bitPattern: uptimeNanoseconds &- anchorUptime)) / 1e9
    }
}
