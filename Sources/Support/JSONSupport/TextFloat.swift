/// Float and Double as `JSONValue` reads them: each rounded once from its decimal literal.
protocol TextFloat: BinaryFloatingPoint {
    static var bitWidth: Int { get }
    /// The value nearest to the literal whose nearest double is `d` (`literal` gives the text if needed).
    static func nearest(to d: Double, literal: () -> String) -> Self
}

extension TextFloat {
    /// Whether this value, converted from the double `d`, overflowed or underflowed to zero.
    @inline(__always)
    func isOutOfRange(convertedFrom d: Double) -> Bool { !isFinite || (self == 0 && d != 0) }
}

extension Float: TextFloat {
    static var bitWidth: Int { 32 }

    /// The float nearest to a decimal literal, which is what `strtof` returns, given the double `d` nearest to it
    /// (json-c has already converted every literal with `strtod`).
    ///
    /// `Float(d)` is that float except in one case. Every float and every midpoint between two adjacent floats is
    /// a double, and rounding to double is monotonic, so a literal x strictly between two midpoints has its d in
    /// the closed interval between them, and `Float(d)` rounds to the float inside — unless d landed exactly *on* a
    /// midpoint, where the tie goes to even, possibly the wrong way (x = 1.00000005960464477550 is just above the
    /// midpoint 1 + 2⁻²⁴, its d is that midpoint, and `Float(d)` is 1.0 instead of the float above). Only then,
    /// and on overflow or underflow, is the literal itself converted, so the common case costs a few comparisons.
    /// `literal` is only called in those cases; Swift's Float(_:) parses it in the C locale, whatever the process's is.
    @inline(__always)
    static func nearest(to d: Double, literal: () -> String) -> Float {
        let f = Float(d)
        let exact = Double(f)
        if exact == d { return f }
        if f.isFinite && f != 0 {
            let neighbour = exact < d ? f.nextUp : f.nextDown
            if neighbour.isFinite && (exact + Double(neighbour)) / 2 != d { return f }
        }
        return Float(literal()) ?? f
    }
}

extension Double: TextFloat {
    static var bitWidth: Int { 64 }
    @inline(__always)
    static func nearest(to d: Double, literal: () -> String) -> Double { d }
}
