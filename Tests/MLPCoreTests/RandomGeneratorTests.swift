import Testing
@testable import MLPCore

struct RandomGeneratorTests {
    @Test func matchesTheIndependentReference() throws {
        let fixture = try loadFixture("reference/rng.json")
        for testCase in try fixture.objects("cases") {
            let seed = try #require(UInt64(try testCase.string("seed")))
            var generator = RandomGenerator(seed: seed)
            let state = (testCase["state"] as? [String] ?? []).compactMap { UInt64($0) }
            #expect(generator.state.wordArray == state, "seeding \(seed)")
            let outputs = (testCase["outputs"] as? [String] ?? []).compactMap { UInt64($0) }
            #expect(outputs.count == 8)
            #expect(outputs.map { _ in generator.next() } == outputs, "outputs for seed \(seed)")
            let after = (testCase["state_after"] as? [String] ?? []).compactMap { UInt64($0) }
            #expect(generator.state.wordArray == after)
        }
    }

    @Test func restoredStateContinuesTheSameSequence() throws {
        var original = RandomGenerator(seed: 99)
        for _ in 0..<10 { _ = original.next() }
        var restored = RandomGenerator(state: try #require(RandomState(words: original.state.wordArray)))
        var indices: [Int] = [], restoredIndices: [Int] = []
        original.permutation(count: 50, into: &indices)
        restored.permutation(count: 50, into: &restoredIndices)
        #expect(indices == restoredIndices)
        #expect((0..<100).map { _ in original.nextStandardNormal() } == (0..<100).map { _ in restored.nextStandardNormal() })
        #expect(original == restored)
    }

    @Test func rejectsImpossibleStates() {
        #expect(RandomState(words: [0, 0, 0, 0]) == nil)
        #expect(RandomState(words: [1, 2, 3]) == nil)
        #expect(RandomState(words: [0, 0, 0, 1]) != nil)
    }

    @Test func distributionsHaveTheirMoments() {
        var random = RandomGenerator(seed: 5)
        let n = 200_000
        let uniform = (0..<n).map { _ in random.nextUnitDouble() }
        #expect(uniform.allSatisfy { $0 >= 0 && $0 < 1 })
        #expect(abs(mean(uniform) - 0.5) < 0.005)
        let normal = (0..<n).map { _ in random.nextStandardNormal() }
        #expect(abs(mean(normal)) < 0.01)
        #expect(abs(variance(normal) - 1) < 0.01)
        let truncated = (0..<n).map { _ in random.nextTruncatedStandardNormal() }
        #expect(truncated.allSatisfy { abs($0) <= 2 })
        // Var of a standard normal truncated to ±2 is 0.87962566…², the constant Keras divides out.
        #expect(abs(variance(truncated).squareRoot() - Initializer.truncatedNormalStddev) < 0.005)
        var counts = [Int](repeating: 0, count: 7)
        for _ in 0..<70_000 { counts[random.nextInt(below: 7)] += 1 }
        #expect(counts.allSatisfy { abs($0 - 10_000) < 400 })
    }

    @Test func permutationIsAPermutation() {
        var random = RandomGenerator(seed: 3)
        var indices: [Int] = []
        random.permutation(count: 1000, into: &indices)
        #expect(indices.sorted() == Array(0..<1000))
        #expect(indices != Array(0..<1000))
        random.permutation(count: 0, into: &indices)
        #expect(indices.isEmpty)
    }
}

func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(values.count) }

func variance(_ values: [Double]) -> Double {
    let m = mean(values)
    return values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(values.count)
}
