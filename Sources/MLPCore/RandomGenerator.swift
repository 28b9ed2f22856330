import RealModule

/// The one source of randomness in training: weight initialization, per-epoch shuffles, sampled checks.
///
/// xoshiro256** (Blackman & Vigna): 256 bits of state, fast, and — what matters here — its whole state is four
/// words that are saved with a model, so a resumed run draws exactly the numbers an uninterrupted run would.
/// Every draw consumes a fixed number of words except rejection sampling, whose consumption is itself a
/// deterministic function of the state; nothing is cached between calls, so the four words are the complete state.
public struct RandomGenerator: Sendable, Equatable {
    public private(set) var state: RandomState

    /// Seeds the state with SplitMix64, the seeding procedure the xoshiro authors recommend.
    public init(seed: UInt64) {
        var s = seed
        func splitMix() -> UInt64 {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        // SplitMix64 never yields four zero words in a row, so the state is valid.
        state = RandomState(unchecked: (splitMix(), splitMix(), splitMix(), splitMix()))
    }

    public init(state: RandomState) {
        self.state = state
    }

    public mutating func next() -> UInt64 {
        var (s0, s1, s2, s3) = state.words
        let result = rotateLeft(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotateLeft(s3, 45)
        state = RandomState(unchecked: (s0, s1, s2, s3))
        return result
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func nextUnitDouble() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// Uniform in `0..<bound` without modulo bias (Lemire's multiply-and-reject).
    public mutating func nextInt(below bound: Int) -> Int {
        precondition(bound > 0, "bound must be positive")
        let range = UInt64(bound)
        var product = next().multipliedFullWidth(by: range)
        if product.low < range {
            let threshold = (0 &- range) % range
            while product.low < threshold {
                product = next().multipliedFullWidth(by: range)
            }
        }
        return Int(product.high)
    }

    /// Standard normal by Box–Muller, using one of the pair and discarding the other so that no value is
    /// carried between calls (a cached spare would be hidden state).
    public mutating func nextStandardNormal() -> Double {
        // 1 − u is in (0, 1], so the logarithm is finite.
        let u1 = 1 - nextUnitDouble()
        let u2 = nextUnitDouble()
        return (-2 * Double.log(u1)).squareRoot() * Double.cos(2 * .pi * u2)
    }

    /// Standard normal conditioned on |x| ≤ 2, by rejection (as Keras's `TruncatedNormal` bounds it).
    public mutating func nextTruncatedStandardNormal() -> Double {
        while true {
            let x = nextStandardNormal()
            if abs(x) <= 2 { return x }
        }
    }

    /// Fisher–Yates shuffle of `0..<count` into `indices` (resized in place, no allocation once it has capacity).
    public mutating func permutation(count: Int, into indices: inout [Int]) {
        indices.removeAll(keepingCapacity: true)
        indices.append(contentsOf: 0..<count)
        var i = count - 1
        while i > 0 {
            let j = nextInt(below: i + 1)
            indices.swapAt(i, j)
            i -= 1
        }
    }
}

@inline(__always)
private func rotateLeft(_ x: UInt64, _ k: UInt64) -> UInt64 {
    (x << k) | (x >> (64 - k))
}

/// The generator's complete state: four 64-bit words, never all zero.
public struct RandomState: Sendable, Equatable, Hashable {
    public let words: (UInt64, UInt64, UInt64, UInt64)

    /// Restores a saved state; `nil` for the all-zero state, which xoshiro can never leave.
    public init?(words: [UInt64]) {
        guard words.count == 4, words.contains(where: { $0 != 0 }) else { return nil }
        self.words = (words[0], words[1], words[2], words[3])
    }

    init(unchecked words: (UInt64, UInt64, UInt64, UInt64)) {
        self.words = words
    }

    public var wordArray: [UInt64] { [words.0, words.1, words.2, words.3] }

    public static func == (lhs: RandomState, rhs: RandomState) -> Bool {
        lhs.wordArray == rhs.wordArray
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(wordArray)
    }
}
