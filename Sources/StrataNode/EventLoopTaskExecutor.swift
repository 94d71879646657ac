import NIOCore

/// A Swift `TaskExecutor` that runs jobs on one NIO event loop. The node's
/// background services (coordinator link, replica follower) prefer it: their
/// connections live on the same loop, so a reply resumes the waiting task
/// without a hop to the global executor's threads, which an idle node would
/// otherwise wake several times a second.
final class EventLoopTaskExecutor: TaskExecutor, Sendable {
    /// The loop the jobs run on.
    let eventLoop: EventLoop

    /// An executor running jobs on `eventLoop`.
    init(_ eventLoop: EventLoop) {
        self.eventLoop = eventLoop
    }

    /// Runs `job` on the loop.
    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
