import { useId } from "react";

interface Props {
  label: string;
  description: string;
  checked: boolean;
  disabled: boolean;
  onChange: (checked: boolean) => void;
}

/** An on/off preference: a checkbox that screen readers announce as a switch. */
export function PreferenceSwitch({ label, description, checked, disabled, onChange }: Props) {
  const id = useId();
  return (
    <div className="switch">
      <input
        id={id}
        type="checkbox"
        role="switch"
        checked={checked}
        disabled={disabled}
        aria-describedby={`${id}-description`}
        onChange={(event) => onChange(event.target.checked)}
      />
      <label htmlFor={id}>{label}</label>
      <p id={`${id}-description`} className="switch-description">
        {description}
      </p>
    </div>
  );
}
