import Dispatch
import Foundation
import Testing
@testable import OspreyCore

/// Decisions take their wall-clock times from the events' monotonic readings.
@Suite("Wall clock")
struct WallClockTests {
    @Test("a reading maps to the wall clock's time at that moment, and later readings move with it")
    func derivedTimes() {
        let clock = WallClock()
        let before = Date().timeIntervalSince1970
        let now = DispatchTime.now().uptimeNanoseconds
        let after = Date().timeIntervalSince1970
        let derived = clock.seconds(at: now)
        // The anchor and the reading are a few microseconds apart; allow for a slow machine.
        #expect(derived >= before - 0.005 && derived <= after + 0.005, "\(derived) outside \(before)...\(after)")
        #expect(abs(clock.seconds(at: now + 1_500_000_000) - (derived + 1.5)) < 1e-6)
        #expect(abs(clock.seconds(at: clock.anchorUptime) - clock.anchorSeconds) < 1e-9)
        // A reading before the anchor (an event timed before a re-anchor) is not wrapped around.
        #expect(abs(clock.seconds(at: clock.anchorUptime - 2_000_000) - (clock.anchorSeconds - 0.002)) < 1e-6)
    }

    @Test("re-anchoring follows the wall clock")
    func reanchor() throws {
        var clock = WallClock()
        let first = clock.anchorSeconds
        Thread.sleep(forTimeInterval: 0.02)
        clock.anchor()
        #expect(clock.anchorSeconds - first >= 0.02)
        let derived = clock.seconds(at: DispatchTime.now().uptimeNanoseconds)
        #expect(abs(derived - Date().timeIntervalSince1970) < 0.005)
    }
}
