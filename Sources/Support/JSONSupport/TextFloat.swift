/// Float and Double as `readNumbers` fills them from text.
package protocol TextFloat: BinaryFloatingPoint {
    static var bitWidth: Int { get }
    /// The value nearest to the literal whose nearest double is `d` (`literal` gives the text if needed).
    static func nearest(to d: Double, literal: () -> String) -> Self
}

extension Float: TextFloat {
    package static var bitWidth: Int { 32 }
    @inline(__always)
    package static func nearest(to d: Double, literal: () -> String) -> Float { JSONValue.nearestFloat(to: d, literal: literal) }
}

extension Double: TextFloat {
    package static var bitWidth: Int { 64 }
    @inline(__always)
    package static func nearest(to d: Double, literal: () -> String) -> Double { d }
}
