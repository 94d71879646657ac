import NIOCore

/// A task executor that runs jobs on one NIO event loop. Tasks that prefer it
/// (`withTaskExecutorPreference(client.preferredExecutor)`) run on the loop that
/// owns the client's connections, so a request and its reply never cross threads.
final class EventLoopExecutor: TaskExecutor, @unchecked Sendable {
    /// The loop the jobs run on.
    let loop: EventLoop

    init(_ loop: EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        loop.execute { job.runSynchronously(on: executor) }
    }
}
