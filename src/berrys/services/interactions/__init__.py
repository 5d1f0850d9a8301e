"""People in the loop: approvals, clarifications and feedback a run or a tool waits for."""
