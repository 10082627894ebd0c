import Testing
@testable import TopiaryNN
@testable import TopiarySparsity

extension AllTests {
@Suite struct SparsityScheduleTests {
    @Test func linearAndGeometricAtExactPoints() {
        #expect(StagedSchedule.linear(finalSparsity: 0.9, stages: 3).map { ($0 * 1e9).rounded() / 1e9 } == [0.3, 0.6, 0.9])
        #expect(StagedSchedule.geometric(fraction: 0.5, stages: 5) == [0.5, 0.75, 0.875, 0.9375, 0.96875])
        let g = StagedSchedule.geometric(fraction: 0.2, stages: 2)
        #expect(abs(g[0] - 0.2) < 1e-15 && abs(g[1] - 0.36) < 1e-15)
    }

    @Test func gradualFollowsTheCubicAtExactPoints() {
        let agp = GradualSchedule(initialSparsity: 0, finalSparsity: 0.8, startStep: 100, frequency: 10, pruningSteps: 4)
        #expect(agp.endStep == 140)
        #expect(agp.sparsity(atStep: 0) == 0 && agp.sparsity(atStep: 100) == 0)
        // t = 120: progress 1/2, s = 0.8 − 0.8·(1/2)³ = 0.7
        #expect(abs(agp.sparsity(atStep: 120) - 0.7) < 1e-12)
        // t = 110: progress 1/4, s = 0.8 − 0.8·(3/4)³ = 0.4625
        #expect(abs(agp.sparsity(atStep: 110) - 0.4625) < 1e-12)
        #expect(agp.sparsity(atStep: 140) == 0.8 && agp.sparsity(atStep: 10_000) == 0.8)
        #expect(agp.update(atStep: 105) == nil && agp.update(atStep: 99) == nil && agp.update(atStep: 150) == nil)
        #expect(agp.update(atStep: 130).map { abs($0 - (0.8 - 0.8 / 64)) < 1e-12 } == true)
        #expect(agp.updates.map(\.step) == [100, 110, 120, 130, 140])
        // Non-decreasing everywhere.
        #expect((0..<200).allSatisfy { agp.sparsity(atStep: $0) <= agp.sparsity(atStep: $0 + 1) })
        let fromHalf = GradualSchedule(initialSparsity: 0.5, finalSparsity: 0.9, startStep: 0, frequency: 1, pruningSteps: 2)
        #expect(fromHalf.sparsity(atStep: 0) == 0.5 && abs(fromHalf.sparsity(atStep: 1) - (0.9 - 0.4 / 8)) < 1e-12)
    }

    @Test func adaptivePolicyHalvesOnRejectionAndStops() {
        let policy = AdaptivePolicy(tolerance: 0.5, initialStep: 0.5, minimumStep: 0.1, maximumRetries: 5,
                                    maximumSparsity: 0.99, maximumStages: 10)
        var state = policy.initialState()
        #expect(policy.nextTarget(state) == 0.5)
        state = policy.advance(state, target: 0.5, accepted: true)
        #expect(policy.nextTarget(state) == 0.75)
        state = policy.advance(state, target: 0.75, accepted: false)         // step 0.25
        #expect(policy.nextTarget(state) == 0.625)
        state = policy.advance(state, target: 0.625, accepted: false)        // step 0.125
        #expect(policy.nextTarget(state) == 0.5625)
        state = policy.advance(state, target: 0.5625, accepted: false)       // step 0.0625 < minimum
        #expect(policy.nextTarget(state) == nil)
        #expect(state.acceptedSparsity == 0.5 && state.retries == 3)
        let accuracy = ClassificationTask.accuracy
        #expect(policy.accepts(worsening: accuracy.worsening(from: 0.9, to: 0.895)))
        #expect(!policy.accepts(worsening: accuracy.worsening(from: 0.9, to: 0.8949)))
    }

    @Test func adaptivePolicyRespectsCaps() {
        let capped = AdaptivePolicy(tolerance: 1, initialStep: 0.5, minimumStep: 0.01, maximumRetries: 0,
                                    maximumSparsity: 0.8, maximumStages: 3)
        var state = capped.initialState()
        for expected in [0.5, 0.75, 0.8] {
            #expect(capped.nextTarget(state) == expected)
            state = capped.advance(state, target: expected, accepted: true)
        }
        #expect(capped.nextTarget(state) == nil)  // at the maximum sparsity (and stage count)
        let noRetries = capped.advance(capped.initialState(), target: 0.5, accepted: false)
        #expect(capped.nextTarget(noRetries) == nil)
    }
}
}
