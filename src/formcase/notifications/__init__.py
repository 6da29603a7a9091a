"""Notifications to contacts: invitations, reminders and confirmations by email and SMS."""
